using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

/// <summary>What a room persists: everything but live connections (those come back through Resume).</summary>
[GenerateSerializer]
public sealed class GameRoomState
{
    /// <summary>Empty until CreateAsync ran: the room does not exist.</summary>
    [Id(0)] public string Phase { get; set; } = "";
    [Id(1)] public string Mode { get; set; } = "";
    [Id(2)] public string SongId { get; set; } = "";
    [Id(3)] public long SongDurationMs { get; set; }
    [Id(4)] public int MinPlayers { get; set; }
    [Id(5)] public int MaxPlayers { get; set; }
    [Id(6)] public bool Coop { get; set; }
    [Id(7)] public int MaxScorePerSecond { get; set; }
    [Id(8)] public bool IsPrivate { get; set; }
    [Id(9)] public string? JoinCode { get; set; }
    [Id(10)] public RawJson Config { get; set; } = RawJson.EmptyObject;
    [Id(11)] public RoomSettings Settings { get; set; } = RoomSettings.Default;
    [Id(12)] public int HostSeat { get; set; }
    [Id(13)] public List<SeatRecord> Seats { get; set; } = [];
    [Id(14)] public long? StartsAt { get; set; }
    [Id(15)] public long? StartedAt { get; set; }
    [Id(16)] public long? FinishedAt { get; set; }
    [Id(17)] public Dictionary<string, bool> Stems { get; set; } = [];
    [Id(18)] public ResultsEvent? Results { get; set; }

    /// <summary>The results' scores reached the song's competitions (until then the room retries, see GameRoomGrain).</summary>
    [Id(19)] public bool ScoresRecorded { get; set; }

    /// <summary>
    /// Seats that finished their run and then left (or timed out) while others still played: their run is over
    /// (PROTOCOL: Finish), so it stays in the results and goes to the leaderboards.
    /// </summary>
    [Id(20)] public List<SeatRecord> FinishedDepartures { get; set; } = [];

    /// <summary>
    /// Each ranked player's run end (epoch ms), fixed with the results: when their <c>Finish</c> set the score, or the
    /// match's end for a seat the song's end finished. It is the run's <c>EndedAt</c>, so the earlier finisher wins a tie
    /// on the boards. Empty in rooms stored before it existed: their runs end at <see cref="FinishedAt"/>.
    /// </summary>
    [Id(21)] public Dictionary<string, long> RunEndedAt { get; set; } = [];
}

/// <summary>One seated player; <see cref="Last"/> is the last applied input (checkpointed while running).</summary>
[GenerateSerializer]
public sealed class SeatRecord
{
    [Id(0)] public int Seat { get; set; }
    [Id(1)] public string PlayerId { get; set; } = "";
    [Id(2)] public string DisplayName { get; set; } = "";
    [Id(3)] public bool Ready { get; set; }
    [Id(4)] public bool ConfigLoaded { get; set; }
    [Id(5)] public string GhostColor { get; set; } = "#FFFFFF";
    [Id(6)] public double GhostOpacity { get; set; } = 0.5;
    [Id(7)] public string? AvatarId { get; set; }
    [Id(8)] public PlayerInputState Last { get; set; } = InputRules.NoInput;
    [Id(9)] public bool Finished { get; set; }

    /// <summary>When the connection dropped (epoch ms); null while connected.</summary>
    [Id(10)] public long? DisconnectedAt { get; set; }

    /// <summary>When <c>Finish</c> last set this seat's score (epoch ms); null until then.</summary>
    [Id(11)] public long? FinishedAt { get; set; }
}
