using System.Runtime.Serialization;
using System.Text.Json.Serialization;

namespace PlayMusic.Rooms;

// The server→client payloads of PROTOCOL §2. They travel between grains (Orleans codecs, which ignore
// DataContract/DataMember) and to clients: SignalR JSON is camelCase by default; MessagePack's object
// resolver takes the BCL [DataMember(Name)] as the string key, so this project needs no MessagePack package.
// Under [DataContract] a property without [DataMember] is left out of MessagePack (WirePayloadTests guards that).

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

[GenerateSerializer, Immutable, DataContract]
public sealed record RoomSettings(
    [property: DataMember(Name = "showGhosts")] bool ShowGhosts,
    [property: DataMember(Name = "showScores")] bool ShowScores,
    [property: DataMember(Name = "allowSpectators")] bool AllowSpectators)
{
    public static RoomSettings Default { get; } = new(true, true, true);
}

[GenerateSerializer, Immutable, DataContract]
public sealed record RoomPlayerView(
    [property: DataMember(Name = "seat")] int Seat,
    [property: DataMember(Name = "playerId")] string PlayerId,
    [property: DataMember(Name = "displayName")] string DisplayName,
    [property: DataMember(Name = "ready")] bool Ready,
    [property: DataMember(Name = "configLoaded")] bool ConfigLoaded,
    [property: DataMember(Name = "connected")] bool Connected,
    [property: DataMember(Name = "ghostColor")] string GhostColor,
    [property: DataMember(Name = "ghostOpacity")] double GhostOpacity,
    [property: DataMember(Name = "avatarId")] string AvatarId);

[GenerateSerializer, Immutable, DataContract]
public sealed record RoomView(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "joinCode")] string? JoinCode,
    [property: DataMember(Name = "mode")] string Mode,
    [property: DataMember(Name = "songId")] string SongId,
    [property: DataMember(Name = "state")] string State,
    [property: DataMember(Name = "hostSeat")] int HostSeat,
    [property: DataMember(Name = "maxPlayers")] int MaxPlayers,
    [property: DataMember(Name = "settings")] RoomSettings Settings,
    [property: DataMember(Name = "config")] RawJson Config,
    [property: DataMember(Name = "players")] IReadOnlyList<RoomPlayerView> Players,
    [property: DataMember(Name = "spectators")] int Spectators,
    [property: DataMember(Name = "startsAt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? StartsAt);

[GenerateSerializer, Immutable, DataContract]
public sealed record RoomJoined(
    [property: DataMember(Name = "room")] RoomView Room,
    [property: DataMember(Name = "seat")] int Seat,
    [property: DataMember(Name = "resumeToken")] string ResumeToken);

[GenerateSerializer, Immutable, DataContract]
public sealed record SpectatorJoined([property: DataMember(Name = "room")] RoomView Room);

[GenerateSerializer, Immutable, DataContract]
public sealed record LiveRoom(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "mode")] string Mode,
    [property: DataMember(Name = "songId")] string SongId,
    [property: DataMember(Name = "state")] string State,
    [property: DataMember(Name = "players")] int Players,
    [property: DataMember(Name = "spectators")] int Spectators,
    [property: DataMember(Name = "startedAt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? StartedAt);

[GenerateSerializer, Immutable, DataContract]
public sealed record CountdownStarted(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "startsAt")] long StartsAt,
    [property: DataMember(Name = "seconds")] int Seconds);

/// <summary>One seat's ghost state in a <see cref="TickEvent"/>; a struct so a tick allocates one array.</summary>
[GenerateSerializer, Immutable, DataContract]
public readonly record struct SeatTick(
    [property: DataMember(Name = "seat")] int Seat,
    [property: DataMember(Name = "seq")] long Seq,
    [property: DataMember(Name = "x")] float X,
    [property: DataMember(Name = "y")] float Y,
    [property: DataMember(Name = "z")] float Z,
    [property: DataMember(Name = "lane")] int Lane,
    [property: DataMember(Name = "anim")] string Anim,
    [property: DataMember(Name = "score")] long Score,
    [property: DataMember(Name = "combo")] long Combo,
    [property: DataMember(Name = "connected")] bool Connected);

[GenerateSerializer, Immutable, DataContract]
public sealed record TickEvent(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "tick")] long Tick,
    [property: DataMember(Name = "serverTime")] long ServerTime,
    [property: DataMember(Name = "songTimeMs")] long SongTimeMs,
    [property: DataMember(Name = "full")] bool Full,
    [property: DataMember(Name = "players")] SeatTick[] Players);

[GenerateSerializer, Immutable, DataContract]
public sealed record StemsEvent(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "stems")] IReadOnlyDictionary<string, bool> Stems,
    [property: DataMember(Name = "coopScore")] long CoopScore);

[GenerateSerializer, Immutable, DataContract]
public sealed record EmoteEvent(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "seat")] int Seat,
    [property: DataMember(Name = "emote")] string Emote);

[GenerateSerializer, Immutable, DataContract]
public sealed record PlayerLeftEvent(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "seat")] int Seat,
    [property: DataMember(Name = "playerId")] string PlayerId,
    [property: DataMember(Name = "reason")] string Reason);

[GenerateSerializer, Immutable, DataContract]
public sealed record RankingEntry(
    [property: DataMember(Name = "seat")] int Seat,
    [property: DataMember(Name = "playerId")] string PlayerId,
    [property: DataMember(Name = "displayName")] string DisplayName,
    [property: DataMember(Name = "score")] long Score,
    [property: DataMember(Name = "rank")] int Rank);

[GenerateSerializer, Immutable, DataContract]
public sealed record ResultsEvent(
    [property: DataMember(Name = "roomId")] string RoomId,
    [property: DataMember(Name = "ranking")] IReadOnlyList<RankingEntry> Ranking,
    [property: DataMember(Name = "coopScore"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? CoopScore,
    [property: DataMember(Name = "durationMs")] long DurationMs);
