using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// Board instruments: how well writes are batched (the count is commits, the sum is entries written),
/// and what folding the write log into the entries table costs.
/// </summary>
public sealed class LeaderboardMetrics(Meter meter)
{
    public const string WriteBatchSizeName = "playmusic.leaderboard.write_batch_size";
    public const string CompactionDurationName = "playmusic.leaderboard.compaction.duration";

    public Histogram<int> WriteBatchSize { get; } = meter.CreateHistogram<int>(
        WriteBatchSizeName, "{entry}", "Entries appended per leaderboard write (one PostgreSQL commit each)");

    public Histogram<double> CompactionDuration { get; } = meter.CreateHistogram<double>(
        CompactionDurationName, "s", "Time to fold a board's write log into its entries table");
}
