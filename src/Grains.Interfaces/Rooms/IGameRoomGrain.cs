using Orleans.Concurrency;

namespace PlayMusic.Rooms;

/// <summary>Stable hub error codes of PROTOCOL §2.</summary>
public static class RoomErrors
{
    public const string RoomNotFound = "ROOM_NOT_FOUND";
    public const string RoomFull = "ROOM_FULL";
    public const string RoomNotJoinable = "ROOM_NOT_JOINABLE";
    public const string ModeNotMultiplayer = "MODE_NOT_MULTIPLAYER";
    public const string NotHost = "NOT_HOST";
    public const string NotInRoom = "NOT_IN_ROOM";
    public const string ConfigNotLoaded = "CONFIG_NOT_LOADED";
    public const string RateLimited = "RATE_LIMITED";
    public const string ResumeExpired = "RESUME_EXPIRED";
    public const string SpectatorsDisabled = "SPECTATORS_DISABLED";
    public const string InvalidArgument = "INVALID_ARGUMENT";
    public const string Unauthorized = "UNAUTHORIZED";

    /// <summary>Transient: the same call may be sent again (also what the hub answers for a restarting silo).</summary>
    public const string Unavailable = "UNAVAILABLE";
}

/// <summary>A refusal with a stable <see cref="Code"/>; the hub turns it into <c>HubException("CODE: sentence")</c>.</summary>
[GenerateSerializer]
public sealed class RoomException(string code, string message) : Exception(message)
{
    [Id(0)] public string Code { get; } = code;
}

/// <summary>A player as the room knows them.</summary>
[GenerateSerializer, Immutable]
public sealed record RoomMember(string PlayerId, string DisplayName);

/// <summary>The API node that holds a connection: the room sends it each event once (see docs/fanout.md).</summary>
[GenerateSerializer, Immutable]
public sealed record RoomNode(string NodeId, IRoomNodeObserver Observer)
{
    /// <summary>
    /// How often a node re-announces its connections to their rooms (<see cref="IGameRoomGrain.AttachNodeAsync"/>).
    /// It bounds how long a room that moved to another silo (its silo died) ticks to nobody, so it is
    /// short: a dead silo is declared within ~8 s, and players should see ticks again within 15 s.
    /// </summary>
    public static readonly TimeSpan ReattachInterval = TimeSpan.FromSeconds(3);
}

/// <summary>One connection a node holds for a room: a seated player's, or a spectator's (no player id).</summary>
[GenerateSerializer, Immutable]
public sealed record NodeConnection(string ConnectionId, string? PlayerId);

[GenerateSerializer, Immutable]
public sealed record CreateRoomCommand(string Mode, string SongId, long SongDurationMs, int? MaxPlayers, bool IsPrivate, RawJson Config);

/// <summary>A settings change; null fields stay as they are.</summary>
[GenerateSerializer, Immutable]
public sealed record SettingsUpdate(bool? ShowGhosts, bool? ShowScores, bool? AllowSpectators, RawJson? Config);

[GenerateSerializer, Immutable]
public sealed record Customization(string? GhostColor, double? GhostOpacity, string? AvatarId);

/// <summary>One validated player input, as the node batcher forwards it.</summary>
[GenerateSerializer, Immutable]
public readonly record struct PlayerInputState(
    long Seq, long SongTimeMs, float X, float Y, float Z, int Lane, string Anim, long Score, long Combo);

/// <summary>The latest input of each player of one room that sent one during the last tick period on one node.</summary>
[GenerateSerializer, Immutable]
public sealed record InputBatch(IReadOnlyList<KeyValuePair<string, PlayerInputState>> Inputs);

/// <summary>
/// What a seated player's connection needs besides <see cref="RoomJoined"/>: the seat's last applied
/// input and the mode's score-rate cap, so the hub validates further inputs without asking the room.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SeatGrant(RoomJoined Joined, PlayerInputState LastInput, int MaxScorePerSecond);

/// <summary>
/// One multiplayer room (key: lowercase uuid). State machine lobby → countdown → running → finished →
/// closed; see docs/rooms.md.
/// </summary>
public interface IGameRoomGrain : IGrainWithStringKey
{
    Task<SeatGrant> CreateAsync(CreateRoomCommand command, RoomMember host, string connectionId, RoomNode node);

    /// <param name="publicLobbyOnly">QuickMatch: refuse private rooms too.</param>
    Task<SeatGrant> JoinAsync(RoomMember member, string connectionId, RoomNode node, bool publicLobbyOnly);

    Task<SeatGrant> ResumeAsync(string playerId, int seat, string connectionId, RoomNode node);

    Task<SpectatorJoined> SpectateAsync(string connectionId, RoomNode node);

    /// <param name="connectionId">the caller's connection: one the seat was taken from (another tab or device resumed it) no longer speaks for it.</param>
    Task LeaveAsync(string playerId, string connectionId);

    Task StopSpectatingAsync(string connectionId);

    /// <summary>The player's connection dropped: the seat waits for a Resume until the grace ends.</summary>
    Task DisconnectAsync(string playerId, string connectionId);

    Task<RoomView> SetReadyAsync(string playerId, bool ready, bool configLoaded);

    Task<RoomView> UpdateSettingsAsync(string playerId, SettingsUpdate update);

    Task<RoomView> CustomizeAsync(string playerId, Customization customization);

    Task EmoteAsync(string playerId, string emote);

    Task TriggerStemAsync(string playerId, string stemId, bool active);

    /// <param name="connectionId">as for <see cref="LeaveAsync"/>.</param>
    Task FinishAsync(string playerId, long score, string connectionId);

    /// <summary>Inputs batched by one node per tick period; one-way so senders never wait on the room.</summary>
    [OneWay]
    Task ApplyInputsAsync(InputBatch batch);

    /// <summary>
    /// A node re-announces the connections it holds for this room (every few seconds), so a room that was
    /// deactivated while idle comes back with its members still connected.
    /// </summary>
    [OneWay]
    Task AttachNodeAsync(RoomNode node, IReadOnlyList<NodeConnection> connections);

    Task<RoomView> GetViewAsync();
}

/// <summary>One per API node: receives each room event once and fans it out to the node's connections.</summary>
public interface IRoomNodeObserver : IGrainObserver
{
    [OneWay] Task OnTickAsync(TickEvent tick);

    [OneWay] Task OnRoomStateAsync(RoomView room);

    [OneWay] Task OnCountdownAsync(CountdownStarted countdown);

    [OneWay] Task OnStemsAsync(StemsEvent stems);

    [OneWay] Task OnEmoteAsync(EmoteEvent emote);

    [OneWay] Task OnPlayerLeftAsync(PlayerLeftEvent left);

    [OneWay] Task OnResultsAsync(ResultsEvent results);

    /// <summary>
    /// The player's seat is now held by <paramref name="connectionId"/> (a Resume from another tab or device): the
    /// player's other connections to the room on this node no longer speak for the seat nor get its events.
    /// </summary>
    [OneWay] Task OnSeatTakenAsync(string roomId, string playerId, string connectionId);
}

/// <summary>Resolves a 6-character join code to its room (key: the upper-case code), from any node.</summary>
public interface IJoinCodeGrain : IGrainWithStringKey
{
    /// <summary>Claims the code for the room; false when another room holds it.</summary>
    Task<bool> ClaimAsync(string roomId);

    Task<string?> ResolveAsync();

    Task ReleaseAsync(string roomId);
}

/// <summary>The public rooms in countdown or running (key <see cref="Key"/>), kept current by the rooms.</summary>
public interface ILiveRoomRegistryGrain : IGrainWithStringKey
{
    const string Key = "live";

    /// <param name="version">Grows with every publication of the room: one-way messages can arrive out of order
    /// (a registry still activating), and an older one never overwrites a newer one.</param>
    [OneWay] Task UpsertAsync(LiveRoom room, long version);

    [OneWay] Task RemoveAsync(string roomId, long version);

    Task<IReadOnlyList<LiveRoom>> ListAsync(string? mode, int limit);
}

/// <summary>
/// The one matchmaking authority per mode+song (key <c>mode/songId</c>): it handles QuickMatch calls one at a
/// time, so concurrent callers fill the same lobby.
/// </summary>
public interface IMatchmakerGrain : IGrainWithStringKey
{
    Task<SeatGrant> QuickMatchAsync(RoomMember member, string connectionId, RoomNode node, long songDurationMs, int? maxPlayers);

    /// <summary>A public lobby has room (players = its seated count).</summary>
    [OneWay] Task OfferAsync(string roomId, int players, int maxPlayers);

    /// <summary>The room is no longer an open public lobby.</summary>
    [OneWay] Task WithdrawAsync(string roomId);

    static string KeyFor(string mode, string songId) => $"{mode}/{songId}";
}
