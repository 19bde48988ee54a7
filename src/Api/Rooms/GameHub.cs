using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Api.Apis;
using PlayMusic.Api.Competitions;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// The real-time rooms hub of PROTOCOL §2 at <c>/hubs/game</c>. Thin by design: each method validates its
/// argument and hands off to one grain (or, for SendInput, to the node's input schedule, which a batcher sends once per tick). Refusals are
/// <see cref="RoomException"/>s, turned into <c>HubException("CODE: sentence")</c> by <see cref="RoomErrorFilter"/>.
/// </summary>
[Authorize]
public sealed partial class GameHub(
    IGrainFactory grains, RoomFanout fanout, RoomInputSchedule inputs, ResumeTokens resumeTokens, StandingsRelay standings,
    ILogger<GameHub> logger) : Hub
{
    public const string Path = "/hubs/game";
    public const long DefaultSongDurationMs = 180_000;
    public static readonly IReadOnlySet<string> Emotes = new HashSet<string> { "wave", "gg", "fire", "laugh", "heart", "wow" };

    private const string SessionKey = "room";

    private RoomSession? Session => Context.Items.TryGetValue(SessionKey, out var value) ? (RoomSession?)value : null;

    /// <summary>
    /// Ends a connection's seated session in the room (its seat was resumed by another connection): its next call
    /// answers NOT_IN_ROOM instead of acting for the seat. A session it has started since, elsewhere, stays.
    /// </summary>
    internal static void ForgetSeat(HubConnectionContext connection, string roomId)
    {
        if (connection.Items.TryGetValue(SessionKey, out var value) && value is RoomSession { Seat: not null } session && session.RoomId == roomId)
        {
            // Only if it is still that session (ICollection's Remove compares the value too).
            ((ICollection<KeyValuePair<object, object?>>)connection.Items).Remove(new(SessionKey, session));
        }
    }

    private string PlayerId => Context.User!.PlayerId();

    private RoomMember Member => new(PlayerId, Context.User!.DisplayName());

    public async Task<RoomJoined> CreateRoom(CreateRoomArgs? args)
    {
        args ??= new CreateRoomArgs();
        var (mode, songId, songDurationMs, maxPlayers) = CheckRoomShape(args.Mode, args.SongId, args.SongDurationMs, args.MaxPlayers);
        var config = args.Config ?? RawJson.EmptyObject;
        if (RoomConfig.Check(config) is { } problem)
        {
            throw Invalid("config", problem);
        }

        var roomId = Guid.NewGuid().ToString();
        var command = new CreateRoomCommand(mode, songId, songDurationMs, maxPlayers, args.IsPrivate ?? false, config);
        return await EnterAsync(roomId, () => grains.GetGrain<IGameRoomGrain>(roomId).CreateAsync(command, Member, Context.ConnectionId, fanout.Node));
    }

    public async Task<RoomJoined> QuickMatch(QuickMatchArgs? args)
    {
        args ??= new QuickMatchArgs();
        var (mode, songId, songDurationMs, maxPlayers) = CheckRoomShape(args.Mode, args.SongId, args.SongDurationMs, args.MaxPlayers);
        var previous = Session;
        var grant = await grains.GetGrain<IMatchmakerGrain>(IMatchmakerGrain.KeyFor(mode, songId))
            .QuickMatchAsync(Member, Context.ConnectionId, fanout.Node, songDurationMs, maxPlayers);
        // The room was unknown until now: track the connection and join the group after the fact.
        var roomId = grant.Joined.Room.RoomId;
        fanout.Track(roomId, Context.ConnectionId, PlayerId);
        await Groups.AddToGroupAsync(Context.ConnectionId, RoomFanout.GroupOf(roomId));
        var joined = Seated(grant);
        await FinishMoveAsync(previous);
        return joined with { Room = await ViewAfterMoveAsync(previous, joined.Room) };
    }

    public async Task<RoomJoined> JoinRoom(JoinRoomArgs? args)
    {
        if (args is null || (args.RoomId is null) == (args.JoinCode is null))
        {
            throw Invalid("roomId", "or joinCode: give exactly one of them");
        }

        var roomId = args.RoomId is not null ? CheckRoomId(args.RoomId) : await ResolveJoinCodeAsync(args.JoinCode!);
        return await EnterAsync(roomId, () => grains.GetGrain<IGameRoomGrain>(roomId).JoinAsync(Member, Context.ConnectionId, fanout.Node, publicLobbyOnly: false));
    }

    public async Task<SpectatorJoined> Spectate(SpectateArgs? args)
    {
        var roomId = CheckRoomId(args?.RoomId);
        var previous = Session;
        fanout.Track(roomId, Context.ConnectionId, playerId: null);
        await Groups.AddToGroupAsync(Context.ConnectionId, RoomFanout.GroupOf(roomId));
        SpectatorJoined joined;
        try
        {
            joined = await grains.GetGrain<IGameRoomGrain>(roomId).SpectateAsync(Context.ConnectionId, fanout.Node);
        }
        catch
        {
            await UndoTrackAsync(roomId, previous);
            throw;
        }

        Context.Items[SessionKey] = new RoomSession(roomId, PlayerId, Seat: null, null);
        await FinishMoveAsync(previous);
        return joined with { Room = await ViewAfterMoveAsync(previous, joined.Room) };
    }

    public Task<IReadOnlyList<LiveRoom>> ListLiveRooms(ListLiveRoomsArgs? args)
    {
        var limit = args?.Limit ?? 20;
        if (limit is < 1 or > 100)
        {
            throw Invalid("limit", "must be 1..100");
        }

        return grains.GetGrain<ILiveRoomRegistryGrain>(ILiveRoomRegistryGrain.Key).ListAsync(args?.Mode, limit);
    }

    public Task<RoomView> SetReady(SetReadyArgs? args)
    {
        if (args?.Ready is not { } ready)
        {
            throw Invalid("ready", "is required (true or false)");
        }

        return SeatedRoom().SetReadyAsync(PlayerId, ready, args.ConfigLoaded ?? false);
    }

    public Task<RoomView> UpdateSettings(UpdateSettingsArgs? args)
    {
        args ??= new UpdateSettingsArgs();
        if (args.Config is not null && RoomConfig.Check(args.Config) is { } problem)
        {
            throw Invalid("config", problem);
        }

        return SeatedRoom().UpdateSettingsAsync(PlayerId, new SettingsUpdate(args.ShowGhosts, args.ShowScores, args.AllowSpectators, args.Config));
    }

    public Task<RoomView> Customize(CustomizeArgs? args)
    {
        args ??= new CustomizeArgs();
        if (args.GhostColor is not null && !GhostColorPattern().IsMatch(args.GhostColor))
        {
            throw Invalid("ghostColor", "must look like #RRGGBB");
        }

        if (args.GhostOpacity is { } opacity && !(opacity is >= 0.1 and <= 1.0))
        {
            throw Invalid("ghostOpacity", "must be 0.1..1.0");
        }

        // Sent to every player in the room: nothing invisible or disruptive (NUL, ESC, line breaks, direction overrides).
        if (args.AvatarId is { } avatarId && (avatarId.Length > 64 || (avatarId.Length > 0 && !VisibleText.Shows(avatarId))))
        {
            throw Invalid("avatarId", $"must be at most 64 characters of visible text, {VisibleText.Rules}");
        }

        return SeatedRoom().CustomizeAsync(PlayerId, new Customization(args.GhostColor, args.GhostOpacity, args.AvatarId));
    }

    public Task Emote(EmoteArgs? args)
    {
        if (args?.Emote is not { } emote || !Emotes.Contains(emote))
        {
            throw Invalid("emote", $"must be one of {string.Join(", ", Emotes)}");
        }

        return SeatedRoom().EmoteAsync(PlayerId, emote);
    }

    /// <summary>Validated here against the connection's last accepted input; never awaits the room.</summary>
    public void SendInput(PlayerInputArgs? input)
    {
        var session = Session;
        if (session?.Seat is null)
        {
            throw new HubException($"{RoomErrors.NotInRoom}: join a room before sending input");
        }

        if (input is not { Seq: { } seq, SongTimeMs: { } songTimeMs, X: { } x, Y: { } y, Z: { } z, Lane: { } lane, Score: { } score, Combo: { } combo })
        {
            throw Invalid("input", "needs seq, songTimeMs, x, y, z, lane, score and combo");
        }

        // Out of float range becomes infinity and an out-of-range lane one past a bound, so the shared
        // rules below name the offending field.
        var next = new PlayerInputState(seq, songTimeMs, (float)x, (float)y, (float)z, (int)Math.Clamp(lane, -1, InputRules.MaxLane + 1),
            input.Anim ?? "", score, combo);
        var gate = session.Gate!;
        if (InputRules.Check(gate.Last, next, gate.MaxScorePerSecond) is { } problem)
        {
            throw Invalid("input", problem);
        }

        gate.Last = next;
        // The session already holds the player id: no claims lookup on the 30 Hz path.
        inputs.Offer(session.RoomId, session.PlayerId, next);
    }

    public Task TriggerStem(TriggerStemArgs? args)
    {
        if (args is not { StemId: { } stemId, Active: { } active })
        {
            throw Invalid("stemId", "and active are both required");
        }

        return SeatedRoom().TriggerStemAsync(PlayerId, stemId, active);
    }

    public Task Finish(FinishArgs? args)
    {
        if (args?.Score is not ({ } score and >= 0))
        {
            throw Invalid("score", "must be an integer ≥ 0");
        }

        return SeatedRoom().FinishAsync(PlayerId, score, Context.ConnectionId);
    }

    /// <summary>Frees the seat, or stops watching for a spectator. The argument, if any, carries nothing.</summary>
    public async Task LeaveRoom(LeaveRoomArgs? args)
    {
        if (Session is not { } session)
        {
            throw new HubException($"{RoomErrors.NotInRoom}: you are not in a room");
        }

        // The session goes only once the room has stored the leave: a leave answered UNAVAILABLE can be sent again.
        await LeaveAsync(session);
        Context.Items.Remove(SessionKey);
    }

    public async Task<RoomJoined> Resume(ResumeArgs? args)
    {
        var roomId = CheckRoomId(args?.RoomId);
        if (args!.ResumeToken is not { } token || resumeTokens.Read(token) is not { } claim
            || claim.RoomId != roomId || claim.PlayerId != PlayerId)
        {
            throw new HubException($"{RoomErrors.Unauthorized}: the resume token is not valid for you and room {roomId}");
        }

        return await EnterAsync(roomId, () => grains.GetGrain<IGameRoomGrain>(roomId).ResumeAsync(PlayerId, claim.Seat, Context.ConnectionId, fanout.Node));
    }

    /// <summary>Every connection hears the live standings of its player's open tournaments (docs/competitions.md).</summary>
    public override Task OnConnectedAsync() => standings.ConnectedAsync(Context.ConnectionId, PlayerId);

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        standings.Disconnected(Context.ConnectionId, PlayerId);
        if (Session is { } session)
        {
            await ReleaseAsync(session);
        }

        await base.OnDisconnectedAsync(exception);
    }

    /// <summary>The connection is gone: its seat waits for a Resume (grace), or its spectator place is freed.</summary>
    private async Task ReleaseAsync(RoomSession session)
    {
        fanout.Untrack(session.RoomId, Context.ConnectionId);
        var room = grains.GetGrain<IGameRoomGrain>(session.RoomId);
        await (session.Seat is null ? room.StopSpectatingAsync(Context.ConnectionId) : room.DisconnectAsync(PlayerId, Context.ConnectionId));
    }

    /// <summary>The connection is in its new place: it leaves its previous one, and is released if it closed meanwhile.</summary>
    private async Task FinishMoveAsync(RoomSession? previous)
    {
        try
        {
            await LeavePreviousAsync(previous);
        }
        catch (Exception e)
        {
            // The move succeeded and the client must get its seat (and resume token). The old seat stays until its
            // room lets it lapse: at its next activation, or once this node announces nothing more in that room.
            logger.LogWarning(e, "Connection {ConnectionId} moved on but could not leave room {RoomId}", Context.ConnectionId, previous?.RoomId);
        }
        finally
        {
            await ReleaseIfClosedAsync();
        }
    }

    /// <summary>
    /// The view a move answers with was taken before the connection left its old role: moving between seat and
    /// spectator in one room, that old role still shows in it, so the room is asked again (the next RoomState would
    /// correct it too). A failure keeps the first view: the move itself is done.
    /// </summary>
    private async Task<RoomView> ViewAfterMoveAsync(RoomSession? previous, RoomView view)
    {
        if (previous?.RoomId != view.RoomId || (previous.Seat is null) == (Session?.Seat is null))
        {
            return view;
        }

        try
        {
            return await grains.GetGrain<IGameRoomGrain>(view.RoomId).GetViewAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Connection {ConnectionId} changed its role in room {RoomId} but could not read the room again", Context.ConnectionId, view.RoomId);
            return view;
        }
    }

    /// <summary>
    /// SignalR runs <see cref="OnDisconnectedAsync"/> without waiting for the connection's running hub method:
    /// a connection that closed while the room was seating it found no session to release there, and its seat
    /// would stay connected (and its node would keep announcing it) for ever. Releasing twice is harmless.
    /// </summary>
    private async Task ReleaseIfClosedAsync()
    {
        if (Context.ConnectionAborted.IsCancellationRequested && Session is { } session)
        {
            await ReleaseAsync(session);
        }
    }

    /// <summary>
    /// Seats this connection: tracked and grouped before the room is asked, so the first tick it can see is
    /// its keyframe; undone if the room refuses. The room it was in is left only once the new one has
    /// accepted, so a refused join costs no seat, and a repeated Resume or a join of its own room keeps it.
    /// </summary>
    private async Task<RoomJoined> EnterAsync(string roomId, Func<Task<SeatGrant>> enter)
    {
        var previous = Session;
        fanout.Track(roomId, Context.ConnectionId, PlayerId);
        await Groups.AddToGroupAsync(Context.ConnectionId, RoomFanout.GroupOf(roomId));
        SeatGrant grant;
        try
        {
            grant = await enter();
        }
        catch (Exception e)
        {
            await UndoTrackAsync(roomId, previous);
            if (e is RoomException { Code: RoomErrors.Unavailable } && (previous?.RoomId != roomId || Context.ConnectionAborted.IsCancellationRequested))
            {
                await DisconnectUnstoredSeatAsync(roomId);
            }

            throw;
        }

        var joined = Seated(grant);
        await FinishMoveAsync(previous);
        return joined with { Room = await ViewAfterMoveAsync(previous, joined.Room) };
    }

    /// <summary>
    /// The room seated this connection but could not store it yet (UNAVAILABLE): with no session here nothing
    /// would ever release that seat if the client gave up, so its grace starts now; the same call sent again
    /// connects it again.
    /// </summary>
    private async Task DisconnectUnstoredSeatAsync(string roomId)
    {
        try
        {
            await grains.GetGrain<IGameRoomGrain>(roomId).DisconnectAsync(PlayerId, Context.ConnectionId);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Connection {ConnectionId} could not release its unstored seat in room {RoomId}", Context.ConnectionId, roomId);
        }
    }

    private RoomJoined Seated(SeatGrant grant)
    {
        var joined = grant.Joined;
        var roomId = joined.Room.RoomId;
        Context.Items[SessionKey] = new RoomSession(roomId, PlayerId, joined.Seat, new InputGate(grant.LastInput, grant.MaxScorePerSecond));
        return joined with { ResumeToken = resumeTokens.Issue(new ResumeClaim(roomId, joined.Seat, PlayerId)) };
    }

    /// <summary>
    /// A connection is in at most one room, in one role: once it is in its new place (<see cref="Session"/>),
    /// it leaves the room and role it had before.
    /// </summary>
    private async Task LeavePreviousAsync(RoomSession? previous)
    {
        var current = Session;
        if (previous is null || (previous.RoomId == current?.RoomId && (previous.Seat is null) == (current.Seat is null)))
        {
            return;
        }

        await LeaveAsync(previous, untrack: previous.RoomId != current?.RoomId);
    }

    /// <summary>Frees the seat, or the watcher's place; a seat already gone (left from another tab, expired, or by an earlier try) counts as left.</summary>
    private async Task LeaveAsync(RoomSession session, bool untrack = true)
    {
        if (untrack)
        {
            fanout.Untrack(session.RoomId, Context.ConnectionId);
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, RoomFanout.GroupOf(session.RoomId));
        }

        var room = grains.GetGrain<IGameRoomGrain>(session.RoomId);
        try
        {
            await (session.Seat is null ? room.StopSpectatingAsync(Context.ConnectionId) : room.LeaveAsync(PlayerId, Context.ConnectionId));
        }
        catch (RoomException e) when (e.Code == RoomErrors.NotInRoom)
        {
        }
    }

    /// <summary>
    /// After a refusal: the connection stays where it was, unless it closed meanwhile: its session is released
    /// by <see cref="OnDisconnectedAsync"/>, and tracking it again would announce a dead connection for ever.
    /// </summary>
    private async Task UndoTrackAsync(string roomId, RoomSession? previous)
    {
        if (previous?.RoomId == roomId && !Context.ConnectionAborted.IsCancellationRequested)
        {
            fanout.Track(roomId, Context.ConnectionId, previous.Seat is null ? null : PlayerId);
            return;
        }

        fanout.Untrack(roomId, Context.ConnectionId);
        await Groups.RemoveFromGroupAsync(Context.ConnectionId, RoomFanout.GroupOf(roomId));
    }

    private IGameRoomGrain SeatedRoom() =>
        Session is { Seat: not null } session
            ? grains.GetGrain<IGameRoomGrain>(session.RoomId)
            : throw new HubException($"{RoomErrors.NotInRoom}: you are not seated in a room");

    private async Task<string> ResolveJoinCodeAsync(string joinCode)
    {
        var code = JoinCodes.Normalize(joinCode) ?? throw Invalid("joinCode", $"must be {JoinCodes.Length} characters of {JoinCodes.Alphabet}");
        return await grains.GetGrain<IJoinCodeGrain>(code).ResolveAsync()
            ?? throw new HubException($"{RoomErrors.RoomNotFound}: no room has join code {code}");
    }

    private static (string Mode, string SongId, long SongDurationMs, int? MaxPlayers) CheckRoomShape(string? mode, string? songId, long? songDurationMs, int? maxPlayers)
    {
        // Catalog ids are a subset of this; a '/' would also split the matchmaker's mode/song key elsewhere.
        if (mode is null || !IdPattern().IsMatch(mode))
        {
            throw Invalid("mode", "must be a mode id of the catalog (GET /api/config/modes)");
        }

        if (songId is null || !IdPattern().IsMatch(songId))
        {
            throw Invalid("songId", "must be 1-64 characters of A-Z a-z 0-9 _ -");
        }

        if (songDurationMs is < 10_000 or > 1_200_000)
        {
            throw Invalid("songDurationMs", "must be 10000..1200000");
        }

        if (maxPlayers is < 2 or > 4)
        {
            throw Invalid("maxPlayers", "must be 2..4");
        }

        return (mode, songId, songDurationMs ?? DefaultSongDurationMs, maxPlayers);
    }

    private static string CheckRoomId(string? roomId) =>
        Guid.TryParse(roomId, out var id) ? id.ToString() : throw Invalid("roomId", "must be a room's uuid");

    private static HubException Invalid(string field, string sentence) => new($"{RoomErrors.InvalidArgument}: {field} {sentence}");

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}\\z")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^#[0-9A-Fa-f]{6}\\z")]
    private static partial Regex GhostColorPattern();

    /// <summary>What a connection is in; Seat is null for a spectator.</summary>
    private sealed record RoomSession(string RoomId, string PlayerId, int? Seat, InputGate? Gate);

    /// <summary>The connection's last accepted input: the hub checks the next one against it without asking the room.</summary>
    private sealed class InputGate(PlayerInputState last, int maxScorePerSecond)
    {
        public PlayerInputState Last { get; set; } = last;

        public int MaxScorePerSecond { get; } = maxScorePerSecond;
    }
}

/// <summary>
/// Turns a room's refusal into the protocol's <c>HubException("CODE: sentence")</c> (the connection stays open)
/// and logs only unexpected failures: SignalR's dispatcher would log every refusal as an error, so
/// <see cref="RoomsExtensions"/> silences it and this filter logs in its place.
/// </summary>
public sealed class RoomErrorFilter(ILogger<RoomErrorFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (RoomException e)
        {
            throw new HubException($"{e.Code}: {e.Message}");
        }
        catch (Exception e) when (e is not HubException && TransientFailure.Describe(e) is { } transient)
        {
            // A silo restarting, a room moving, the database away: the client retries on this code.
            logger.LogWarning(e, "Hub method {Method} failed transiently", invocationContext.HubMethodName);
            throw new HubException($"{RoomErrors.Unavailable}: {transient}");
        }
        catch (Exception e) when (e is not HubException)
        {
            // SignalR would answer "An unexpected error occurred invoking …", without the code PROTOCOL §2 promises.
            logger.LogError(e, "Hub method {Method} failed", invocationContext.HubMethodName);
            throw new HubException($"{ErrorCodes.Internal}: unexpected server error");
        }
    }
}
