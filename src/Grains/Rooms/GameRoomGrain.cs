using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Storage;
using PlayMusic.Competitions;
using PlayMusic.Modes;
using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

/// <summary>
/// One multiplayer room. Membership and settings live in persisted state (written on every change);
/// connections and node links live in memory and come back through Resume or node re-attachment.
/// See docs/rooms.md (state machine) and docs/fanout.md (how events reach connections).
/// </summary>
public sealed class GameRoomGrain(
    [PersistentState("room", StorageNames.Rooms)] IPersistentState<GameRoomState> state,
    TimeProvider time,
    IOptions<RoomOptions> options,
    ILogger<GameRoomGrain> logger) : Grain, IGameRoomGrain, IRemindable
{
    public const int TicksPerSecond = 30;
    public const int KeyframeEvery = 30;
    public const int CountdownSeconds = 3;
    public const long ResultsAfterSongMs = 10_000;

    /// <summary>
    /// How far a player's song time may run ahead of the room's (the client's start rests on its estimate of the
    /// server clock). The score cap grows with the song time the client claims, so a claim beyond this counts as this.
    /// </summary>
    public const long SongClockLeadMs = 2_000;

    public const int EmoteBurst = 3;
    public static readonly IReadOnlyList<string> DefaultStems = ["drums", "bass", "vocals", "melody", "synth"];

    /// <summary>Match starts are multiples of this (Unix ms): 3 ticks at 30 Hz, so all rooms' ticks share one grid.</summary>
    public const long TickGridMs = 100;

    private const string AliveReminder = "room-alive";

    /// <summary>A seat that chose no avatar (the engine shows its default): the contract's <c>avatarId</c> is a string, never absent.</summary>
    private const string NoAvatar = "";

    /// <summary>A node that has not re-attached for this long is taken for crashed (three missed re-attaches).</summary>
    private static readonly TimeSpan NodeSilence = RoomNode.ReattachInterval * 3;
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ScoreRetryDelay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FirstWriteRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxWriteRetryDelay = TimeSpan.FromSeconds(8);

    private readonly Dictionary<int, SeatConnection> _seatConnections = [];
    private readonly Dictionary<string, string> _spectators = [];
    private readonly Dictionary<string, IRoomNodeObserver> _nodes = [];

    /// <summary>When each node of <see cref="_nodes"/> last spoke for its connections here (a call, or its re-attach).</summary>
    private readonly Dictionary<string, long> _nodeHeardAt = [];
    private readonly Dictionary<string, EmoteBucket> _emoteBuckets = [];
    private readonly HashSet<int> _dirtySeats = [];
    private IRoomNodeObserver[] _targets = [];
    private IGrainTimer? _countdownTimer;
    private IGrainTimer? _tickTimer;
    private IGrainTimer? _graceTimer;
    private IGrainTimer? _scoreRetryTimer;
    private IGrainTimer? _writeRetryTimer;
    private FixedTimestep? _timestep;
    private bool _forceFull;
    private int _ticksSinceFull;
    private long _lastCheckpointMs;
    private bool _checkpointDue;

    /// <summary>The last write failed: the state in memory is newer than the stored one until a write succeeds.</summary>
    private bool _stateUnstored;

    /// <summary>Failed writes since the last one that stored the state.</summary>
    private int _failedWrites;

    /// <summary>The stored room is newer than this activation's (a version conflict): nothing here is written any more.</summary>
    private bool _stateSuperseded;

    /// <summary>The version of this room's last publication to the live-room registry.</summary>
    private long _liveVersion;

    /// <summary>
    /// Until then nodes re-attach their seats after this activation began: the grace of a seat that was
    /// connected starts here, and no seat expires earlier. Kept in memory only: persisted, a later write would
    /// turn it into a disconnection of a player whose node had re-attached long before.
    /// </summary>
    private long _reattachBy;

    private GameRoomState Room => state.State;

    private string RoomId => this.GetPrimaryKeyString();

    private bool Exists => Room.Phase.Length > 0;

    private long NowMs => time.GetUtcNow().ToUnixTimeMilliseconds();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(ReleaseSilentNodesAsync, new GrainTimerCreationOptions(RoomNode.ReattachInterval, RoomNode.ReattachInterval));
        if (ScoresPending)
        {
            // The previous activation ended (a crash, a failed call) between persisting the results and
            // handing their scores over.
            RetryScoresIn(TimeSpan.FromSeconds(1));
        }

        if (!Exists || Room.Phase == RoomPhase.Closed)
        {
            return Task.CompletedTask;
        }

        // Connections did not survive the previous activation: every seat waits for a Resume or for its node
        // to re-attach. Nodes re-attach every ReattachInterval, so the grace of a seat that was connected
        // starts only after they have had the chance (an idle lobby must not lose players that never left).
        _reattachBy = NowMs + (long)RoomNode.ReattachInterval.TotalMilliseconds * 3 / 2;
        ArmGraceTimer();
        if (Room.Phase == RoomPhase.Countdown)
        {
            ArmCountdown();
        }
        else if (Room.Phase == RoomPhase.Running)
        {
            StartLoop();
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        StopLoop();
        if (_stateUnstored && !_stateSuperseded)
        {
            // A last try: what was not stored is lost with this activation.
            try
            {
                await state.WriteStateAsync();
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Room {RoomId} deactivated ({Reason}) without storing its latest state", RoomId, reason);
            }
        }
    }

    /// <summary>
    /// Activation re-arms the grace timer, so a room nobody resumes still closes after a restart; and a room
    /// whose scores have not reached the competitions keeps its reminder until they have.
    /// </summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (ScoresPending)
        {
            await RecordScoresAsync();
        }

        if ((!Exists || Room.Phase == RoomPhase.Closed) && !ScoresPending && !_stateUnstored)
        {
            await StopReminderAsync();
        }
    }

    public async Task<SeatGrant> CreateAsync(CreateRoomCommand command, RoomMember host, string connectionId, RoomNode node)
    {
        if (Exists)
        {
            throw new RoomException(RoomErrors.InvalidArgument, $"room {RoomId} already exists");
        }

        var mode = await MultiplayerModes.RequireAsync(GrainFactory, command.Mode);
        var rules = mode.Multiplayer;
        var maxPlayers = MultiplayerModes.SeatsFor(mode, command.MaxPlayers);
        ThrowIfUnplayableStems(rules.Coop, command.Config);

        Room.Phase = RoomPhase.Lobby;
        Room.Mode = mode.Id;
        Room.SongId = command.SongId;
        Room.SongDurationMs = command.SongDurationMs;
        Room.MinPlayers = rules.MinPlayers;
        Room.MaxPlayers = maxPlayers;
        Room.Coop = rules.Coop;
        Room.MaxScorePerSecond = mode.MaxScorePerSecond;
        Room.IsPrivate = command.IsPrivate;
        Room.Config = command.Config;
        Room.Stems = StemsFrom(command.Config);
        Room.JoinCode = await ClaimJoinCodeAsync();
        var seat = AddSeat(host, connectionId, node);
        Room.HostSeat = seat.Seat;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Nobody was told of this room: this activation forgets it and frees its code, so the host's retry
            // starts afresh and the code does not stay claimed by a room that was never stored.
            DeactivateOnIdle();
            await GrainFactory.GetGrain<IJoinCodeGrain>(Room.JoinCode).ReleaseAsync(RoomId);
            throw;
        }

        await this.RegisterOrUpdateReminder(AliveReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        PublishLobby();
        return Grant(seat);
    }

    public async Task<SeatGrant> JoinAsync(RoomMember member, string connectionId, RoomNode node, bool publicLobbyOnly)
    {
        EnsureExists();
        if (FindSeat(member.PlayerId) is { } existing)
        {
            // The same player joining again (another tab, a retry): same seat, new connection.
            Connect(existing, connectionId, node);
            await PersistAndBroadcastAsync();
            ThrowIfUnstored();
            return Grant(existing);
        }

        // A join during the countdown cancels it (AddSeat); running and finished rooms take no one (PROTOCOL §2).
        if (Room.Phase is not (RoomPhase.Lobby or RoomPhase.Countdown) || (publicLobbyOnly && Room.IsPrivate))
        {
            throw new RoomException(RoomErrors.RoomNotJoinable, $"room {RoomId} is {Room.Phase}{(Room.IsPrivate ? " and private" : "")}");
        }

        if (Room.Seats.Count >= Room.MaxPlayers)
        {
            throw new RoomException(RoomErrors.RoomFull, $"room {RoomId} already has {Room.MaxPlayers} players");
        }

        var seat = AddSeat(member, connectionId, node);
        await PersistAndBroadcastAsync();
        PublishLobby();
        ThrowIfUnstored();
        return Grant(seat);
    }

    public async Task<SeatGrant> ResumeAsync(string playerId, int seat, string connectionId, RoomNode node)
    {
        var record = Exists && Room.Phase != RoomPhase.Closed ? FindSeat(playerId) : null;
        if (record is null || record.Seat != seat)
        {
            throw new RoomException(RoomErrors.ResumeExpired, $"seat {seat} of room {RoomId} is no longer held for you");
        }

        Connect(record, connectionId, node);
        await PersistAndBroadcastAsync();
        ResendResults(node);
        ThrowIfUnstored();
        return Grant(record);
    }

    public Task<SpectatorJoined> SpectateAsync(string connectionId, RoomNode node)
    {
        EnsureExists();
        if (Room.Phase == RoomPhase.Closed)
        {
            throw new RoomException(RoomErrors.RoomNotJoinable, $"room {RoomId} is closed");
        }

        if (!Room.Settings.AllowSpectators)
        {
            throw new RoomException(RoomErrors.SpectatorsDisabled, $"room {RoomId} does not allow spectators");
        }

        if (_spectators.TryGetValue(connectionId, out var nodeId) && nodeId == node.NodeId)
        {
            // Already watching: a repeat must not cost every connection a RoomState, a full tick and a registry
            // write. Its node owes the connection a keyframe from its own mirror (the hub tracks it again).
            return Task.FromResult(new SpectatorJoined(View()));
        }

        _spectators[connectionId] = node.NodeId;
        Heard(node);
        _forceFull = true;
        RebuildTargets();
        PublishLive();
        var view = View();
        Broadcast(view);
        return Task.FromResult(new SpectatorJoined(view));
    }

    public Task StopSpectatingAsync(string connectionId)
    {
        if (_spectators.Remove(connectionId))
        {
            RebuildTargets();
            PublishLive();
            Broadcast(View());
        }

        return Task.CompletedTask;
    }

    public async Task LeaveAsync(string playerId, string connectionId)
    {
        var seat = RequireSeatHeldBy(playerId, connectionId);
        await RemoveSeatAsync(seat, LeaveReason.Left);
        ThrowIfUnstored();
    }

    public async Task DisconnectAsync(string playerId, string connectionId)
    {
        if (FindSeat(playerId) is not { } seat
            || !_seatConnections.TryGetValue(seat.Seat, out var connection)
            || connection.ConnectionId != connectionId)
        {
            return;
        }

        _seatConnections.Remove(seat.Seat);
        seat.DisconnectedAt = NowMs;
        _dirtySeats.Add(seat.Seat);
        RebuildTargets();
        ArmGraceTimer();
        await PersistAndBroadcastAsync();
    }

    public async Task<RoomView> SetReadyAsync(string playerId, bool ready, bool configLoaded)
    {
        var seat = RequireSeat(playerId);
        if (ready && !configLoaded)
        {
            throw new RoomException(RoomErrors.ConfigNotLoaded, "load the room's config before getting ready");
        }

        if (Room.Phase is RoomPhase.Running or RoomPhase.Finished && seat.Ready == ready && seat.ConfigLoaded == configLoaded)
        {
            // A retry of the call that started the match (it was answered UNAVAILABLE): its change is made.
            await AcknowledgeRepeatAsync();
            return View();
        }

        if (Room.Phase is not (RoomPhase.Lobby or RoomPhase.Countdown))
        {
            throw new RoomException(RoomErrors.RoomNotJoinable, $"room {RoomId} is {Room.Phase}: ready only counts before the start");
        }

        seat.Ready = ready;
        seat.ConfigLoaded = configLoaded;
        if (!ready)
        {
            CancelCountdown();
        }

        await PersistAndBroadcastAsync();
        await MaybeStartCountdownAsync();
        ThrowIfUnstored();
        return View();
    }

    public async Task<RoomView> UpdateSettingsAsync(string playerId, SettingsUpdate update)
    {
        var seat = RequireSeat(playerId);
        if (seat.Seat != Room.HostSeat)
        {
            throw new RoomException(RoomErrors.NotHost, "only the host changes the room's settings");
        }

        if (update.Config is not null && Room.Phase != RoomPhase.Lobby)
        {
            throw new RoomException(RoomErrors.InvalidArgument, "config can only change in the lobby");
        }

        if (update.Config is not null)
        {
            ThrowIfUnplayableStems(Room.Coop, update.Config);
        }

        Room.Settings = new RoomSettings(
            update.ShowGhosts ?? Room.Settings.ShowGhosts,
            update.ShowScores ?? Room.Settings.ShowScores,
            update.AllowSpectators ?? Room.Settings.AllowSpectators);
        IRoomNodeObserver[] watchersOnly = [];
        if (!Room.Settings.AllowSpectators && _spectators.Count > 0)
        {
            // A host who wants no watchers gets none, not just no new ones.
            var before = _targets;
            _spectators.Clear();
            RebuildTargets();
            watchersOnly = [.. before.Except(_targets)];
            PublishLive();
        }

        if (update.Config is not null && update.Config.Json != Room.Config.Json)
        {
            Room.Config = update.Config;
            Room.Stems = StemsFrom(update.Config);
            foreach (var each in Room.Seats)
            {
                // Everyone must load the new config before being ready again.
                each.Ready = false;
                each.ConfigLoaded = false;
            }
        }

        await PersistAndBroadcastAsync();
        var view = View();
        foreach (var node in watchersOnly)
        {
            // Nodes that held only watchers hear no more of the room: this last RoomState tells them why.
            node.OnRoomStateAsync(view).Ignore();
        }

        ThrowIfUnstored();
        return view;
    }

    public async Task<RoomView> CustomizeAsync(string playerId, Customization customization)
    {
        var seat = RequireSeat(playerId);
        seat.GhostColor = customization.GhostColor ?? seat.GhostColor;
        seat.GhostOpacity = customization.GhostOpacity ?? seat.GhostOpacity;
        seat.AvatarId = customization.AvatarId ?? seat.AvatarId;
        await PersistAndBroadcastAsync();
        ThrowIfUnstored();
        return View();
    }

    public Task EmoteAsync(string playerId, string emote)
    {
        var seat = RequireSeat(playerId);
        var now = NowMs;
        var bucket = _emoteBuckets.TryGetValue(playerId, out var known) ? known.Refill(now) : new EmoteBucket(EmoteBurst, now);
        if (bucket.Tokens < 1)
        {
            _emoteBuckets[playerId] = bucket;
            throw new RoomException(RoomErrors.RateLimited, "at most one emote per second (burst of 3)");
        }

        _emoteBuckets[playerId] = bucket with { Tokens = bucket.Tokens - 1 };
        var message = new EmoteEvent(RoomId, seat.Seat, emote);
        foreach (var target in _targets)
        {
            target.OnEmoteAsync(message).Ignore();
        }

        return Task.CompletedTask;
    }

    public Task TriggerStemAsync(string playerId, string stemId, bool active)
    {
        RequireSeat(playerId);
        if (!Room.Coop)
        {
            throw new RoomException(RoomErrors.InvalidArgument, $"stems are for duet rooms; this room plays {Room.Mode}");
        }

        if (!Room.Stems.ContainsKey(stemId))
        {
            throw new RoomException(RoomErrors.InvalidArgument, $"stemId must be one of {string.Join(", ", Room.Stems.Keys)}");
        }

        if (Room.Stems[stemId] == active)
        {
            // PROTOCOL §2 sends Stems when a stem changed: a repeat (a double tap, a retried call) changes nothing.
            return Task.CompletedTask;
        }

        Room.Stems[stemId] = active;
        var message = new StemsEvent(RoomId, new Dictionary<string, bool>(Room.Stems), CoopScore());
        foreach (var target in _targets)
        {
            target.OnStemsAsync(message).Ignore();
        }

        _checkpointDue = true;
        return Task.CompletedTask;
    }

    public async Task FinishAsync(string playerId, long score, string connectionId)
    {
        var seat = RequireSeatHeldBy(playerId, connectionId);
        // A seat the song's end finished is final too: a finish sent as the song ended is a retry only with that score.
        if (seat.Finished || Room.Phase == RoomPhase.Finished)
        {
            if (seat.Last.Score != score)
            {
                // Otherwise a player who finished early could watch the others' scores in the ticks and raise their own.
                throw new RoomException(RoomErrors.InvalidArgument, $"your run is already finished with score {seat.Last.Score}");
            }

            // A retry (the first was answered UNAVAILABLE, or its answer was lost), maybe of the call that ended the match.
            await AcknowledgeRepeatAsync();
            return;
        }

        if (Room.Phase != RoomPhase.Running)
        {
            throw new RoomException(RoomErrors.InvalidArgument, $"room {RoomId} is {Room.Phase}, not running");
        }

        var final = seat.Last with { Seq = seat.Last.Seq + 1, SongTimeMs = Math.Max(seat.Last.SongTimeMs, NowMs - Room.StartedAt!.Value), Score = score };
        var highest = HighestScore(seat.Last, final);
        if (score < seat.Last.Score || score > highest)
        {
            throw new RoomException(RoomErrors.InvalidArgument, $"score must be between {seat.Last.Score} and {highest} (the mode's cap)");
        }

        seat.Last = seat.Last with { Score = score };
        seat.Finished = true;
        seat.FinishedAt = NowMs;
        _dirtySeats.Add(seat.Seat);
        if (Room.Seats.All(s => s.Finished))
        {
            await FinishMatchAsync();
        }
        else
        {
            await TryWriteStateAsync();
        }

        ThrowIfUnstored();
    }

    public Task ApplyInputsAsync(InputBatch batch)
    {
        if (Room.Phase != RoomPhase.Running)
        {
            return Task.CompletedTask;
        }

        foreach (var (playerId, offered) in batch.Inputs)
        {
            if (FindSeat(playerId) is not { Finished: false } seat)
            {
                continue;
            }

            // The hub checked each input against the one before it; coalesced (latest wins), several steps
            // can add up to more score than one step may gain. The room keeps the input, its score capped,
            // so the seat moves on and the hub's and the room's views of the score do not drift apart.
            // The cap is measured in song time, which the client states: the room holds it to its own clock.
            var input = offered with { SongTimeMs = Math.Min(offered.SongTimeMs, NowMs - Room.StartedAt!.Value + SongClockLeadMs) };
            input = input with { Score = Math.Min(input.Score, HighestScore(seat.Last, input)) };
            if (InputRules.Check(seat.Last, input, Room.MaxScorePerSecond) is { } problem)
            {
                logger.LogDebug("Room {RoomId} dropped an input of {PlayerId}: {Problem}", RoomId, playerId, problem);
                continue;
            }

            seat.Last = input;
            _dirtySeats.Add(seat.Seat);
            _checkpointDue = true;
        }

        return Task.CompletedTask;
    }

    public async Task AttachNodeAsync(RoomNode node, IReadOnlyList<NodeConnection> connections)
    {
        if (!Exists || Room.Phase == RoomPhase.Closed)
        {
            return;
        }

        if (_nodeHeardAt.ContainsKey(node.NodeId))
        {
            _nodeHeardAt[node.NodeId] = NowMs;
        }

        var changed = false;
        var spectatorsAdded = false;
        var disconnectionCleared = false;
        foreach (var connection in connections)
        {
            if (connection.PlayerId is null)
            {
                // The node still announces watchers the room dropped when spectators were turned off.
                spectatorsAdded |= Room.Settings.AllowSpectators && _spectators.TryAdd(connection.ConnectionId, node.NodeId);
            }
            else if (FindSeat(connection.PlayerId) is { } seat && !_seatConnections.ContainsKey(seat.Seat))
            {
                disconnectionCleared |= seat.DisconnectedAt is not null;
                Connect(seat, connection.ConnectionId, node);
                changed = true;
            }
        }

        if (!changed && !spectatorsAdded)
        {
            return;
        }

        Heard(node);
        RebuildTargets();
        if (spectatorsAdded)
        {
            // The registry's count, as ReleaseSilentNodesAsync publishes the drop.
            PublishLive();
        }

        if (disconnectionCleared)
        {
            // A stored disconnection outlives this activation: the next one would expire a seat that is back.
            await PersistAndBroadcastAsync();
        }
        else
        {
            Broadcast(View());
        }

        ResendResults(node);
    }

    /// <summary>
    /// Results go out once, to the nodes the room knows at that moment. A connection that comes back
    /// afterwards (a Resume, or its node re-attaching to a room that reactivated in a rolling restart)
    /// would otherwise never see how the match ended, so its node gets them again; the node's other
    /// connections of the room may see the same Results twice.
    /// </summary>
    private void ResendResults(RoomNode node)
    {
        if (Room.Phase == RoomPhase.Finished && Room.Results is { } results)
        {
            node.Observer.OnResultsAsync(results).Ignore();
        }
    }

    public Task<RoomView> GetViewAsync()
    {
        EnsureExists();
        return Task.FromResult(View());
    }

    private SeatRecord AddSeat(RoomMember member, string connectionId, RoomNode node)
    {
        var taken = Room.Seats.Select(s => s.Seat).ToHashSet();
        var seat = new SeatRecord
        {
            Seat = Enumerable.Range(0, Room.MaxPlayers).First(i => !taken.Contains(i)),
            PlayerId = member.PlayerId,
            DisplayName = member.DisplayName,
        };
        Room.Seats.Add(seat);
        Room.Seats.Sort((a, b) => a.Seat.CompareTo(b.Seat));
        Connect(seat, connectionId, node);
        CancelCountdown();
        return seat;
    }

    /// <summary>
    /// The highest score a seat may reach with <paramref name="next"/>: PROTOCOL §2's step (the cap times the song time
    /// since the last accepted input, plus one second's worth), and over the whole song no more than the cap times its
    /// song time plus one second's worth. The step alone is per input: a client sending 60 inputs a second would add
    /// a second's worth 60 times a second, and the room's score is what reaches results and boards.
    /// </summary>
    private long HighestScore(in PlayerInputState last, in PlayerInputState next)
    {
        var overSong = (long)Room.MaxScorePerSecond * (Math.Max(0, next.SongTimeMs) + 1000) / 1000;
        return Math.Min(last.Score + InputRules.MaxGain(last, next, Room.MaxScorePerSecond), Math.Max(last.Score, overSong));
    }

    private void Connect(SeatRecord seat, string connectionId, RoomNode node)
    {
        if (_seatConnections.TryGetValue(seat.Seat, out var previous) && previous.ConnectionId != connectionId
            && _nodes.TryGetValue(previous.NodeId, out var previousNode))
        {
            // Otherwise the old tab still gets the seat's events, and its LeaveRoom frees the seat the new one holds.
            previousNode.OnSeatTakenAsync(RoomId, seat.PlayerId, connectionId).Ignore();
        }

        _seatConnections[seat.Seat] = new SeatConnection(connectionId, node.NodeId);
        Heard(node);
        seat.DisconnectedAt = null;
        _dirtySeats.Add(seat.Seat);
        _forceFull = true;
        RebuildTargets();
    }

    private async Task RemoveSeatAsync(SeatRecord seat, string reason)
    {
        Room.Seats.Remove(seat);
        if (Room.Phase == RoomPhase.Running && seat.Finished)
        {
            Room.FinishedDepartures.Add(seat);
        }

        _seatConnections.Remove(seat.Seat);
        ForgetRefilledEmoteBuckets();
        var left = new PlayerLeftEvent(RoomId, seat.Seat, seat.PlayerId, reason);
        foreach (var target in _targets)
        {
            target.OnPlayerLeftAsync(left).Ignore();
        }

        RebuildTargets();
        _forceFull = true;
        if (Room.Seats.Count == 0)
        {
            if (Room.Phase == RoomPhase.Running && Room.FinishedDepartures.Count > 0)
            {
                // Nobody is left to see them, but the finished runs still get their results and reach the boards.
                await FinishMatchAsync();
            }

            await CloseAsync();
            return;
        }

        if (Room.HostSeat == seat.Seat)
        {
            Room.HostSeat = Room.Seats[0].Seat;
        }

        CancelCountdown();
        await PersistAndBroadcastAsync();
        PublishLobby();
        PublishLive();
        if (Room.Phase == RoomPhase.Running && Room.Seats.All(s => s.Finished))
        {
            await FinishMatchAsync();
        }
        else
        {
            await MaybeStartCountdownAsync();
        }
    }

    private async Task MaybeStartCountdownAsync()
    {
        if (Room.Phase != RoomPhase.Lobby || Room.Seats.Count < Room.MinPlayers || !Room.Seats.All(s => s.Ready))
        {
            return;
        }

        Room.Phase = RoomPhase.Countdown;
        // Rounded up to a multiple of 100 ms (3 ticks): every room then ticks on one grid shared by the
        // cluster, so a silo serves all its rooms' ticks, and a node all their relays and inputs, in one
        // burst per period instead of waking up for each room at its own phase.
        Room.StartsAt = (NowMs + CountdownSeconds * 1000 + TickGridMs - 1) / TickGridMs * TickGridMs;
        ArmCountdown();
        await PersistAndBroadcastAsync();
        var countdown = new CountdownStarted(RoomId, Room.StartsAt.Value, CountdownSeconds);
        foreach (var target in _targets)
        {
            target.OnCountdownAsync(countdown).Ignore();
        }

        PublishLobby();
        PublishLive();
    }

    private void ArmCountdown()
    {
        _countdownTimer?.Dispose();
        var due = TimeSpan.FromMilliseconds(Math.Max(0, Room.StartsAt!.Value - NowMs));
        _countdownTimer = this.RegisterGrainTimer(StartMatchAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan));
    }

    /// <summary>Back to the lobby: someone un-readied, left or joined during the countdown.</summary>
    private void CancelCountdown()
    {
        if (Room.Phase != RoomPhase.Countdown)
        {
            return;
        }

        _countdownTimer?.Dispose();
        _countdownTimer = null;
        Room.Phase = RoomPhase.Lobby;
        Room.StartsAt = null;
        PublishLive();
        PublishLobby();
    }

    private async Task StartMatchAsync(CancellationToken cancellationToken)
    {
        _countdownTimer?.Dispose();
        _countdownTimer = null;
        if (Room.Phase != RoomPhase.Countdown)
        {
            return;
        }

        Room.Phase = RoomPhase.Running;
        Room.StartedAt = Room.StartsAt;
        // Goes on when the write fails (retried): the clients saw the countdown and expect the start.
        await PersistAndBroadcastAsync();
        PublishLive();
        StartLoop();
    }

    private void StartLoop()
    {
        if (_tickTimer is not null)
        {
            return;
        }

        _timestep = new FixedTimestep(DateTimeOffset.FromUnixTimeMilliseconds(Room.StartedAt!.Value), TicksPerSecond);
        _forceFull = true;
        _lastCheckpointMs = NowMs;
        var due = _timestep.DelayUntilNext(time.GetUtcNow());
        _tickTimer = this.RegisterGrainTimer(TickAsync, new GrainTimerCreationOptions(due, due) { KeepAlive = true });
        RoomMetrics.LoopStarted();
    }

    private void StopLoop()
    {
        if (_tickTimer is null)
        {
            return;
        }

        _tickTimer.Dispose();
        _tickTimer = null;
        RoomMetrics.LoopStopped();
    }

    /// <summary>
    /// One 30 Hz tick. Orleans schedules a timer's next tick relative to the end of the callback, so each
    /// tick re-aims the timer at the next ideal time (start + n/30 s) instead of using a fixed period.
    /// </summary>
    private async Task TickAsync(CancellationToken cancellationToken)
    {
        if (_timestep is null || _tickTimer is null)
        {
            return;
        }

        var started = time.GetTimestamp();
        var now = time.GetUtcNow();
        var (tick, lag) = _timestep.Begin(now);
        RoomMetrics.TickBegan(lag);
        var nowMs = now.ToUnixTimeMilliseconds();
        var songTimeMs = nowMs - Room.StartedAt!.Value;
        SendTick(tick, nowMs, songTimeMs);

        if (songTimeMs >= Room.SongDurationMs + ResultsAfterSongMs)
        {
            await FinishMatchAsync();
        }
        else
        {
            // While a write is failing, the write retry stores everything instead.
            if (_checkpointDue && !_stateUnstored && nowMs - _lastCheckpointMs >= CheckpointInterval.TotalMilliseconds)
            {
                // Scores and seq at least once per second: a crash loses at most the last second.
                _checkpointDue = false;
                _lastCheckpointMs = nowMs;
                await TryWriteStateAsync();
            }

            var delay = _timestep.DelayUntilNext(time.GetUtcNow());
            // Due and period both aim at the next ideal time, whichever of them the timer applies next.
            var period = delay > TimeSpan.FromMilliseconds(1) ? delay : TimeSpan.FromMilliseconds(1);
            _tickTimer?.Change(delay, period);
        }

        RoomMetrics.TickEnded(time.GetElapsedTime(started));
    }

    private void SendTick(long tick, long nowMs, long songTimeMs)
    {
        var full = _forceFull || ++_ticksSinceFull >= KeyframeEvery;
        if (full)
        {
            _forceFull = false;
            _ticksSinceFull = 0;
        }

        var players = full ? new SeatTick[Room.Seats.Count] : _dirtySeats.Count == 0 ? [] : new SeatTick[CountDirtySeats()];
        var index = 0;
        foreach (var seat in Room.Seats)
        {
            if (full || _dirtySeats.Contains(seat.Seat))
            {
                var last = seat.Last;
                players[index++] = new SeatTick(seat.Seat, Math.Max(0, last.Seq), last.X, last.Y, last.Z, last.Lane, last.Anim, last.Score, last.Combo,
                    _seatConnections.ContainsKey(seat.Seat));
            }
        }

        _dirtySeats.Clear();
        var message = new TickEvent(RoomId, tick, nowMs, songTimeMs, full, players);
        foreach (var target in _targets)
        {
            target.OnTickAsync(message).Ignore();
        }

        RoomMetrics.TickSent(_targets.Length);
    }

    private int CountDirtySeats()
    {
        var count = 0;
        foreach (var seat in Room.Seats)
        {
            if (_dirtySeats.Contains(seat.Seat))
            {
                count++;
            }
        }

        return count;
    }

    private async Task FinishMatchAsync()
    {
        StopLoop();
        Room.Phase = RoomPhase.Finished;
        Room.FinishedAt = NowMs;
        var runs = RunSeats.ToList();
        var ranking = runs
            .Select(s => new RankingEntry(s.Seat, s.PlayerId, s.DisplayName, s.Last.Score, 1 + runs.Count(o => o.Last.Score > s.Last.Score)))
            .OrderBy(r => r.Rank).ThenBy(r => r.Seat)
            .ToList();
        Room.Results = new ResultsEvent(RoomId, ranking, Room.Coop ? CoopScore() : null, Room.FinishedAt.Value - (Room.StartedAt ?? Room.FinishedAt.Value));
        Room.RunEndedAt = runs.DistinctBy(s => s.PlayerId).ToDictionary(s => s.PlayerId, s => s.FinishedAt ?? Room.FinishedAt.Value);
        // The results go out even when their write fails (retried); their scores wait until they are stored.
        await PersistAndBroadcastAsync();
        foreach (var target in _targets)
        {
            target.OnResultsAsync(Room.Results).Ignore();
        }

        PublishLive();
        await RecordScoresAsync();
    }

    private bool ScoresPending => Room.Results is not null && !Room.ScoresRecorded;

    /// <summary>
    /// Hands every seat's final score to the song's competitions (a song is its game's id). The results are
    /// persisted first and <see cref="GameRoomState.ScoresRecorded"/> only after every run was accepted, so a
    /// crash or a failure in between is retried (soon, on the next activation, or by the reminder); runs are
    /// idempotent by room and player, so a repeat cannot count twice. Players' portals are not known to a
    /// room, so multiplayer scores go to the global and "unknown" portal boards.
    /// </summary>
    private async Task RecordScoresAsync()
    {
        // Results not stored yet (a failed write): the write retry hands them over once it stored them.
        if (Room.Results is not { } results || Room.ScoresRecorded || _stateUnstored)
        {
            return;
        }

        var scores = GrainFactory.GetGrain<IGameScoresGrain>(Room.SongId);
        try
        {
            await Task.WhenAll(results.Ranking.Select(r => scores.RecordAsync(new CompletedRun(
                $"{RoomId}:{r.PlayerId}", r.PlayerId, r.DisplayName, Room.SongId, Room.Mode, "", r.Score, results.DurationMs,
                Room.RunEndedAt.GetValueOrDefault(r.PlayerId, Room.FinishedAt!.Value)))));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Room {RoomId} finished but its scores did not all reach the leaderboards yet; retrying", RoomId);
            RetryScoresIn(ScoreRetryDelay);
            return;
        }

        Room.ScoresRecorded = true;
        // A failed write is retried; lost in a crash, the next activation records the (idempotent) runs again.
        await TryWriteStateAsync();
    }

    /// <summary>One pending retry at a time: a failure in the reminder's attempt re-aims it rather than starting another.</summary>
    private void RetryScoresIn(TimeSpan due)
    {
        if (_scoreRetryTimer is null)
        {
            _scoreRetryTimer = this.RegisterGrainTimer(RecordScoresAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan));
        }
        else
        {
            _scoreRetryTimer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task CloseAsync()
    {
        StopLoop();
        _countdownTimer?.Dispose();
        _graceTimer?.Dispose();
        Room.Phase = RoomPhase.Closed;
        Room.StartsAt = null;
        if (Room.JoinCode is { } code)
        {
            await GrainFactory.GetGrain<IJoinCodeGrain>(code).ReleaseAsync(RoomId);
        }

        var stored = await PersistAndBroadcastAsync();
        PublishLive();
        PublishLobby();
        if (!stored)
        {
            // Stays active with its reminder until the write retry stored the closing (the reminder then ends).
            return;
        }

        if (!ScoresPending)
        {
            await StopReminderAsync();
        }

        DeactivateOnIdle();
    }

    private async Task StopReminderAsync()
    {
        if (await this.GetReminder(AliveReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <summary>Aims the grace timer at the earliest moment a disconnected seat expires.</summary>
    private void ArmGraceTimer()
    {
        _graceTimer?.Dispose();
        _graceTimer = null;
        var earliest = Room.Seats.Select(ExpiryOf).Where(t => t is not null).Select(t => t!.Value).DefaultIfEmpty(long.MaxValue).Min();
        if (earliest == long.MaxValue)
        {
            return;
        }

        var due = TimeSpan.FromMilliseconds(Math.Max(0, earliest - NowMs));
        _graceTimer = this.RegisterGrainTimer(ExpireSeatsAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    /// <summary>
    /// When an unconnected seat is freed: a grace after its disconnection, or after this activation's re-attach
    /// deadline when it has none; and never before that deadline, so after a restart nodes always get their
    /// chance to re-attach, even a seat whose stored disconnection is old (earlier versions stored the deadline
    /// itself, and a write can fail after a re-attach cleared it). Null while connected.
    /// </summary>
    private long? ExpiryOf(SeatRecord seat)
    {
        if (_seatConnections.ContainsKey(seat.Seat))
        {
            return null;
        }

        var grace = (long)options.Value.SeatGrace.TotalMilliseconds;
        return seat.DisconnectedAt is { } disconnectedAt ? Math.Max(disconnectedAt + grace, _reattachBy) : _reattachBy + grace;
    }

    private async Task ExpireSeatsAsync(CancellationToken cancellationToken)
    {
        var now = NowMs;
        foreach (var seat in Room.Seats.Where(s => ExpiryOf(s) <= now).ToList())
        {
            await RemoveSeatAsync(seat, LeaveReason.Timeout);
        }

        if (Room.Phase != RoomPhase.Closed)
        {
            ArmGraceTimer();
        }
    }

    private async Task<string> ClaimJoinCodeAsync()
    {
        for (var attempt = 0; ; attempt++)
        {
            var code = JoinCodes.Generate();
            if (await GrainFactory.GetGrain<IJoinCodeGrain>(code).ClaimAsync(RoomId))
            {
                return code;
            }

            if (attempt > 20)
            {
                throw new InvalidOperationException("could not find a free join code");
            }
        }
    }

    /// <summary>Stores the state and tells the clients; they hear of the change even when the write failed (it is retried).</summary>
    private async Task<bool> PersistAndBroadcastAsync()
    {
        var stored = await TryWriteStateAsync();
        Broadcast(View());
        return stored;
    }

    /// <summary>A call repeated because it was answered UNAVAILABLE: its change stands, and is acknowledged once stored.</summary>
    private async Task AcknowledgeRepeatAsync()
    {
        if (_stateUnstored)
        {
            await TryWriteStateAsync();
        }

        ThrowIfUnstored();
    }

    /// <summary>
    /// A client's call is acknowledged only once its change is stored. When the write failed, the change still
    /// stands in memory, was broadcast, and is stored by the write retry; the caller hears UNAVAILABLE, and the
    /// same call sent again finds its change made (joins, ready, settings, finishes and leaves are repeatable).
    /// </summary>
    private void ThrowIfUnstored()
    {
        if (_stateUnstored)
        {
            throw new RoomException(RoomErrors.Unavailable, $"room {RoomId} could not store this change yet and keeps trying: send it again");
        }
    }

    /// <summary>
    /// Stores the state. A failure (a database blip) is logged and retried instead of thrown: a timer's phase change
    /// must still reach the clients and start or stop the loop, and the state in memory stays the truth, which the
    /// next successful write stores whole. Retries back off (<see cref="WriteRetryDelay"/>) so thousands of rooms do
    /// not hammer a database that is down, nor all come back in the same second; a client repeating its call
    /// (<see cref="AcknowledgeRepeatAsync"/>) still tries at once.
    /// </summary>
    private async Task<bool> TryWriteStateAsync()
    {
        if (_stateSuperseded)
        {
            return false;
        }

        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException ex)
        {
            // The stored version is newer than this activation's: another activation (a cluster change) or a
            // write whose reply was lost stored it. No retry can succeed, so this activation steps aside; the
            // next one reads the stored room, and the players come back through Resume and their nodes' re-attach.
            logger.LogWarning(ex, "Room {RoomId} was stored by someone else; this activation deactivates", RoomId);
            _stateUnstored = _stateSuperseded = true;
            _writeRetryTimer?.Dispose();
            _writeRetryTimer = null;
            DeactivateOnIdle();
            return false;
        }
        catch (Exception ex)
        {
            var delay = WriteRetryDelay(++_failedWrites);
            if (_failedWrites == 1)
            {
                logger.LogWarning(ex, "Room {RoomId} could not store its state ({Phase}); retrying, at most {MaxDelay} apart", RoomId, Room.Phase, MaxWriteRetryDelay);
            }
            else
            {
                logger.LogDebug(ex, "Room {RoomId} could not store its state, attempt {Attempt}; next in {Delay}", RoomId, _failedWrites, delay);
            }

            _stateUnstored = true;
            if (_writeRetryTimer is null)
            {
                _writeRetryTimer = this.RegisterGrainTimer(RetryWriteAsync, new GrainTimerCreationOptions(delay, delay) { KeepAlive = true });
            }
            else
            {
                // Inside the timer's own callback this takes effect once the callback ends.
                _writeRetryTimer.Change(delay, delay);
            }

            return false;
        }

        if (_failedWrites > 0)
        {
            logger.LogInformation("Room {RoomId} stored its state again after {FailedWrites} failed writes", RoomId, _failedWrites);
            _failedWrites = 0;
        }

        _stateUnstored = false;
        _lastCheckpointMs = NowMs;
        return true;
    }

    /// <summary>1, 2, 4, then 8 s after the first, second, third and later failures, each shortened by up to a fifth at random.</summary>
    private static TimeSpan WriteRetryDelay(int failedWrites)
    {
        var full = TimeSpan.FromTicks(Math.Min(FirstWriteRetryDelay.Ticks << Math.Min(failedWrites - 1, 10), MaxWriteRetryDelay.Ticks));
        return full * (1 - Random.Shared.NextDouble() / 5);
    }

    private async Task RetryWriteAsync(CancellationToken cancellationToken)
    {
        if (_stateUnstored && !await TryWriteStateAsync())
        {
            return;
        }

        _writeRetryTimer?.Dispose();
        _writeRetryTimer = null;
        // Results that finished during the failure are stored now: their scores can go.
        await RecordScoresAsync();
    }

    private void Broadcast(RoomView view)
    {
        foreach (var target in _targets)
        {
            target.OnRoomStateAsync(view).Ignore();
        }
    }

    /// <summary>Public lobbies with space are offered to their mode+song's matchmaker.</summary>
    private void PublishLobby()
    {
        var matchmaker = GrainFactory.GetGrain<IMatchmakerGrain>(IMatchmakerGrain.KeyFor(Room.Mode, Room.SongId));
        if (!Room.IsPrivate && Room.Phase == RoomPhase.Lobby && Room.Seats.Count < Room.MaxPlayers)
        {
            matchmaker.OfferAsync(RoomId, Room.Seats.Count, Room.MaxPlayers).Ignore();
        }
        else
        {
            matchmaker.WithdrawAsync(RoomId).Ignore();
        }
    }

    /// <summary>
    /// Public rooms in countdown or running are listed by the live-room registry. Each publication carries a
    /// version: the clock in ms × 1000, raised by one when that would not grow, so a later activation's also
    /// outranks this one's, as far as the silos' clocks agree.
    /// </summary>
    private void PublishLive()
    {
        var registry = GrainFactory.GetGrain<ILiveRoomRegistryGrain>(ILiveRoomRegistryGrain.Key);
        _liveVersion = Math.Max(_liveVersion + 1, NowMs * 1000);
        if (!Room.IsPrivate && Room.Phase is RoomPhase.Countdown or RoomPhase.Running)
        {
            registry.UpsertAsync(new LiveRoom(RoomId, Room.Mode, Room.SongId, Room.Phase, Room.Seats.Count, _spectators.Count, Room.StartedAt), _liveVersion).Ignore();
        }
        else
        {
            registry.RemoveAsync(RoomId, _liveVersion).Ignore();
        }
    }

    private void Heard(RoomNode node)
    {
        _nodes[node.NodeId] = node.Observer;
        _nodeHeardAt[node.NodeId] = NowMs;
    }

    /// <summary>
    /// A node that crashed never reports its connections closed. Once it has been silent for <see cref="NodeSilence"/>,
    /// its seats count as disconnected since it was last heard (their grace runs, a Resume through another node
    /// takes them back) and its spectators are dropped; if it was only slow, its next re-attach reconnects them.
    /// </summary>
    private async Task ReleaseSilentNodesAsync(CancellationToken cancellationToken)
    {
        var silentBefore = NowMs - (long)NodeSilence.TotalMilliseconds;
        var silent = _nodeHeardAt.Where(n => n.Value < silentBefore).ToDictionary();
        if (silent.Count == 0 || !Exists || Room.Phase == RoomPhase.Closed)
        {
            return;
        }

        var seatsReleased = false;
        foreach (var seat in Room.Seats)
        {
            if (_seatConnections.TryGetValue(seat.Seat, out var connection) && silent.TryGetValue(connection.NodeId, out var heardAt))
            {
                _seatConnections.Remove(seat.Seat);
                seat.DisconnectedAt = heardAt;
                _dirtySeats.Add(seat.Seat);
                seatsReleased = true;
            }
        }

        foreach (var spectator in _spectators.Where(s => silent.ContainsKey(s.Value)).ToList())
        {
            _spectators.Remove(spectator.Key);
        }

        RebuildTargets();
        PublishLive();
        if (seatsReleased)
        {
            ArmGraceTimer();
            await PersistAndBroadcastAsync();
        }
        else
        {
            Broadcast(View());
        }
    }

    private void RebuildTargets()
    {
        var used = new HashSet<string>(_seatConnections.Values.Select(c => c.NodeId).Concat(_spectators.Values));
        foreach (var unused in _nodes.Keys.Where(k => !used.Contains(k)).ToList())
        {
            _nodes.Remove(unused);
            _nodeHeardAt.Remove(unused);
        }

        _targets = [.. _nodes.Values];
    }

    private RoomView View() => new(
        RoomId,
        Room.JoinCode,
        Room.Mode,
        Room.SongId,
        Room.Phase,
        Room.HostSeat,
        Room.MaxPlayers,
        Room.Settings,
        Room.Config,
        [.. Room.Seats.Select(s => new RoomPlayerView(
            s.Seat, s.PlayerId, s.DisplayName, s.Ready, s.ConfigLoaded, _seatConnections.ContainsKey(s.Seat), s.GhostColor, s.GhostOpacity,
            s.AvatarId ?? NoAvatar))],
        _spectators.Count,
        Room.StartsAt);

    private SeatGrant Grant(SeatRecord seat) => new(new RoomJoined(View(), seat.Seat, ""), seat.Last, Room.MaxScorePerSecond);

    /// <summary>Every run of the match: the seats, and those that finished and left.</summary>
    private IEnumerable<SeatRecord> RunSeats => Room.Seats.Concat(Room.FinishedDepartures);

    private long CoopScore() => RunSeats.Sum(s => s.Last.Score);

    /// <summary>
    /// A player's emote bucket outlives their seat, so leaving and joining again does not refill it; a bucket that has
    /// refilled is what a newcomer gets anyway, so those of players no longer seated go.
    /// </summary>
    private void ForgetRefilledEmoteBuckets()
    {
        var now = NowMs;
        foreach (var (playerId, bucket) in _emoteBuckets)
        {
            if (bucket.Refill(now).Tokens >= EmoteBurst && FindSeat(playerId) is null)
            {
                _emoteBuckets.Remove(playerId);
            }
        }
    }

    private static void ThrowIfUnplayableStems(bool coop, RawJson config)
    {
        if (coop && RoomConfig.StemsProblem(config) is { } problem)
        {
            throw new RoomException(RoomErrors.InvalidArgument, $"config {problem}");
        }
    }

    private static Dictionary<string, bool> StemsFrom(RawJson config) =>
        (RoomConfig.Stems(config) ?? DefaultStems).ToDictionary(s => s, _ => false);

    private void EnsureExists()
    {
        if (!Exists)
        {
            throw new RoomException(RoomErrors.RoomNotFound, $"room {RoomId} does not exist");
        }
    }

    private SeatRecord? FindSeat(string playerId)
    {
        foreach (var seat in Room.Seats)
        {
            if (seat.PlayerId == playerId)
            {
                return seat;
            }
        }

        return null;
    }

    private SeatRecord RequireSeat(string playerId)
    {
        EnsureExists();
        return FindSeat(playerId) ?? throw new RoomException(RoomErrors.NotInRoom, $"you have no seat in room {RoomId}");
    }

    /// <summary>
    /// The player's seat, for a call that must come from the connection holding it. The room tells a node when a
    /// seat it served was taken over, but after a reactivation it cannot: until that node re-attaches, the old tab's
    /// leave or finish would free or end the seat the new one plays in.
    /// </summary>
    private SeatRecord RequireSeatHeldBy(string playerId, string connectionId)
    {
        var seat = RequireSeat(playerId);
        if (_seatConnections.TryGetValue(seat.Seat, out var holder) && holder.ConnectionId != connectionId)
        {
            throw new RoomException(RoomErrors.NotInRoom, $"your seat in room {RoomId} is now held by another connection (another tab or device)");
        }

        return seat;
    }

    private readonly record struct SeatConnection(string ConnectionId, string NodeId);

    /// <summary>Emote token bucket: refills one token per second up to the burst.</summary>
    private readonly record struct EmoteBucket(double Tokens, long AtMs)
    {
        public EmoteBucket Refill(long nowMs) => new(Math.Min(EmoteBurst, Tokens + (nowMs - AtMs) / 1000.0), nowMs);
    }
}
