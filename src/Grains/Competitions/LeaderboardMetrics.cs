using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Competitions;

/// <summary>Board instruments: how well writes are batched (the count is commits, the sum is entries written).</summary>
public sealed class LeaderboardMetrics(Meter meter)
{
    public const string WriteBatchSizeName = "playmusic.leaderboard.write_batch_size";

    public Histogram<int> WriteBatchSize { get; } = meter.CreateHistogram<int>(
        WriteBatchSizeName, "{entry}", "Entries upserted per leaderboard write (one PostgreSQL commit each)");
}
