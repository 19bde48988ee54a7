using MessagePack;
using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

// The client→server arguments of PROTOCOL §2. Settable and nullable so that a missing field is seen
// (and named) by the hub's validation rather than failing in the deserializer; camelCase keys under
// both protocols (JSON by SignalR's default naming policy, MessagePack by [Key]).

[MessagePackObject]
public sealed class CreateRoomArgs
{
    [Key("mode")] public string? Mode { get; set; }
    [Key("songId")] public string? SongId { get; set; }
    [Key("songDurationMs")] public long? SongDurationMs { get; set; }
    [Key("maxPlayers")] public int? MaxPlayers { get; set; }
    [Key("isPrivate")] public bool? IsPrivate { get; set; }
    [Key("config")] public RawJson? Config { get; set; }
}

[MessagePackObject]
public sealed class QuickMatchArgs
{
    [Key("mode")] public string? Mode { get; set; }
    [Key("songId")] public string? SongId { get; set; }
    [Key("songDurationMs")] public long? SongDurationMs { get; set; }
    [Key("maxPlayers")] public int? MaxPlayers { get; set; }
}

[MessagePackObject]
public sealed class JoinRoomArgs
{
    [Key("roomId")] public string? RoomId { get; set; }
    [Key("joinCode")] public string? JoinCode { get; set; }
}

[MessagePackObject]
public sealed class SpectateArgs
{
    [Key("roomId")] public string? RoomId { get; set; }
}

[MessagePackObject]
public sealed class ListLiveRoomsArgs
{
    [Key("mode")] public string? Mode { get; set; }
    [Key("limit")] public int? Limit { get; set; }
}

[MessagePackObject]
public sealed class SetReadyArgs
{
    [Key("ready")] public bool? Ready { get; set; }
    [Key("configLoaded")] public bool? ConfigLoaded { get; set; }
}

[MessagePackObject]
public sealed class UpdateSettingsArgs
{
    [Key("showGhosts")] public bool? ShowGhosts { get; set; }
    [Key("showScores")] public bool? ShowScores { get; set; }
    [Key("allowSpectators")] public bool? AllowSpectators { get; set; }
    [Key("config")] public RawJson? Config { get; set; }
}

[MessagePackObject]
public sealed class CustomizeArgs
{
    [Key("ghostColor")] public string? GhostColor { get; set; }
    [Key("ghostOpacity")] public double? GhostOpacity { get; set; }
    [Key("avatarId")] public string? AvatarId { get; set; }
}

[MessagePackObject]
public sealed class EmoteArgs
{
    [Key("emote")] public string? Emote { get; set; }
}

[MessagePackObject]
public sealed class PlayerInputArgs
{
    [Key("seq")] public long? Seq { get; set; }
    [Key("songTimeMs")] public long? SongTimeMs { get; set; }
    [Key("x")] public double? X { get; set; }
    [Key("y")] public double? Y { get; set; }
    [Key("z")] public double? Z { get; set; }
    [Key("lane")] public long? Lane { get; set; }
    [Key("anim")] public string? Anim { get; set; }
    [Key("score")] public long? Score { get; set; }
    [Key("combo")] public long? Combo { get; set; }
}

[MessagePackObject]
public sealed class TriggerStemArgs
{
    [Key("stemId")] public string? StemId { get; set; }
    [Key("active")] public bool? Active { get; set; }
}

[MessagePackObject]
public sealed class FinishArgs
{
    [Key("score")] public long? Score { get; set; }
}

/// <summary>LeaveRoom needs nothing; an argument object is still taken ("one argument object, or none") and its fields ignored.</summary>
[MessagePackObject(keyAsPropertyName: true)]
public sealed class LeaveRoomArgs;

[MessagePackObject]
public sealed class ResumeArgs
{
    [Key("roomId")] public string? RoomId { get; set; }
    [Key("resumeToken")] public string? ResumeToken { get; set; }
}
