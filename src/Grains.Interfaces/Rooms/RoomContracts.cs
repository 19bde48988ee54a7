using System.Text.Json.Serialization;
using MessagePack;

namespace PlayMusic.Rooms;

// The server→client payloads of PROTOCOL §2. They travel between grains (Orleans codecs) and to
// clients (SignalR JSON: camelCase by default; MessagePack: the explicit camelCase [Key] names).

/// <summary>Room phases, as sent on the wire.</summary>
public static class RoomPhase
{
    public const string Lobby = "lobby";
    public const string Countdown = "countdown";
    public const string Running = "running";
    public const string Finished = "finished";
    public const string Closed = "closed";
}

/// <summary>Why a player left a room (<c>PlayerLeft.reason</c>).</summary>
public static class LeaveReason
{
    public const string Left = "left";
    public const string Timeout = "timeout";
    public const string Kicked = "kicked";
}

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record RoomSettings(
    [property: Key("showGhosts")] bool ShowGhosts,
    [property: Key("showScores")] bool ShowScores,
    [property: Key("allowSpectators")] bool AllowSpectators)
{
    public static RoomSettings Default { get; } = new(true, true, true);
}

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record RoomPlayerView(
    [property: Key("seat")] int Seat,
    [property: Key("playerId")] string PlayerId,
    [property: Key("displayName")] string DisplayName,
    [property: Key("ready")] bool Ready,
    [property: Key("configLoaded")] bool ConfigLoaded,
    [property: Key("connected")] bool Connected,
    [property: Key("ghostColor")] string GhostColor,
    [property: Key("ghostOpacity")] double GhostOpacity,
    [property: Key("avatarId")] string? AvatarId);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record RoomView(
    [property: Key("roomId")] string RoomId,
    [property: Key("joinCode")] string? JoinCode,
    [property: Key("mode")] string Mode,
    [property: Key("songId")] string SongId,
    [property: Key("state")] string State,
    [property: Key("hostSeat")] int HostSeat,
    [property: Key("maxPlayers")] int MaxPlayers,
    [property: Key("settings")] RoomSettings Settings,
    [property: Key("config")] RawJson Config,
    [property: Key("players")] IReadOnlyList<RoomPlayerView> Players,
    [property: Key("spectators")] int Spectators,
    [property: Key("startsAt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? StartsAt);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record RoomJoined(
    [property: Key("room")] RoomView Room,
    [property: Key("seat")] int Seat,
    [property: Key("resumeToken")] string ResumeToken);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record SpectatorJoined([property: Key("room")] RoomView Room);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record LiveRoom(
    [property: Key("roomId")] string RoomId,
    [property: Key("mode")] string Mode,
    [property: Key("songId")] string SongId,
    [property: Key("state")] string State,
    [property: Key("players")] int Players,
    [property: Key("spectators")] int Spectators,
    [property: Key("startedAt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? StartedAt);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record CountdownStarted(
    [property: Key("roomId")] string RoomId,
    [property: Key("startsAt")] long StartsAt,
    [property: Key("seconds")] int Seconds);

/// <summary>One seat's ghost state in a <see cref="TickEvent"/>; a struct so a tick allocates one array.</summary>
[GenerateSerializer, Immutable, MessagePackObject]
public readonly record struct SeatTick(
    [property: Key("seat")] int Seat,
    [property: Key("seq")] long Seq,
    [property: Key("x")] float X,
    [property: Key("y")] float Y,
    [property: Key("z")] float Z,
    [property: Key("lane")] int Lane,
    [property: Key("anim")] string Anim,
    [property: Key("score")] long Score,
    [property: Key("combo")] long Combo,
    [property: Key("connected")] bool Connected);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record TickEvent(
    [property: Key("roomId")] string RoomId,
    [property: Key("tick")] long Tick,
    [property: Key("serverTime")] long ServerTime,
    [property: Key("songTimeMs")] long SongTimeMs,
    [property: Key("full")] bool Full,
    [property: Key("players")] SeatTick[] Players);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record StemsEvent(
    [property: Key("roomId")] string RoomId,
    [property: Key("stems")] IReadOnlyDictionary<string, bool> Stems,
    [property: Key("coopScore")] long CoopScore);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record EmoteEvent(
    [property: Key("roomId")] string RoomId,
    [property: Key("seat")] int Seat,
    [property: Key("emote")] string Emote);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record PlayerLeftEvent(
    [property: Key("roomId")] string RoomId,
    [property: Key("seat")] int Seat,
    [property: Key("playerId")] string PlayerId,
    [property: Key("reason")] string Reason);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record RankingEntry(
    [property: Key("seat")] int Seat,
    [property: Key("playerId")] string PlayerId,
    [property: Key("displayName")] string DisplayName,
    [property: Key("score")] long Score,
    [property: Key("rank")] int Rank);

[GenerateSerializer, Immutable, MessagePackObject]
public sealed record ResultsEvent(
    [property: Key("roomId")] string RoomId,
    [property: Key("ranking")] IReadOnlyList<RankingEntry> Ranking,
    [property: Key("coopScore"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? CoopScore,
    [property: Key("durationMs")] long DurationMs);
