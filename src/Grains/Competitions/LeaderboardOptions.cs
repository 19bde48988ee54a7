namespace PlayMusic.Grains.Competitions;

public sealed class LeaderboardOptions
{
    /// <summary>
    /// How often a board folds its write log into <c>leaderboard_entries</c>
    /// (<c>PLAYMUSIC_LEADERBOARD_COMPACT_SECONDS</c>, default 30). Durability never depends on it:
    /// an acknowledged score is in the log, and activation reads the log too.
    /// </summary>
    public TimeSpan CompactionInterval { get; set; } = TimeSpan.FromSeconds(30);
}
