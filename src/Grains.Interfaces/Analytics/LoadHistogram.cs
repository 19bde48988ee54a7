namespace PlayMusic.Analytics;

/// <summary>
/// A mergeable load-time histogram over fixed buckets: one per millisecond up to
/// <see cref="LinearLimit"/>, then log-scale buckets each <see cref="Growth"/> times wider, so a
/// reported percentile is the upper bound of the bucket holding the true value: at most 5 % (plus
/// 1 ms of rounding) above it, never below it.
/// </summary>
[GenerateSerializer]
public sealed class LoadHistogram
{
    public const int LinearLimit = 20;
    public const double Growth = 1.05;

    /// <summary>Largest value the buckets hold: the sum of four steps of at most 600 s.</summary>
    public const long MaxMs = 4 * 600_000;

    /// <summary>Index: bucket; value: the largest millisecond value it holds.</summary>
    public static IReadOnlyList<long> UpperBounds => Bounds;

    /// <summary>download, config, assets, audio, total (the PROTOCOL's <c>loadMs</c> keys, in order).</summary>
    public static IReadOnlyList<string> Metrics { get; } = ["download", "config", "assets", "audio", "total"];

    private static readonly List<long> Bounds = BuildUpperBounds();

    [Id(0)] public long[] Counts { get; init; } = new long[UpperBounds.Count];

    public long Total => Counts.Sum();

    public static int BucketOf(long ms)
    {
        var index = Bounds.BinarySearch(Math.Clamp(ms, 0, MaxMs));
        return index >= 0 ? index : ~index;
    }

    public void Add(long ms) => Counts[BucketOf(ms)]++;

    public void Merge(LoadHistogram other)
    {
        for (var i = 0; i < Counts.Length; i++)
        {
            Counts[i] += other.Counts[i];
        }
    }

    public LoadHistogram Copy() => new() { Counts = (long[])Counts.Clone() };

    /// <summary>Nearest-rank percentile (<paramref name="fraction"/> in (0, 1]); null when empty.</summary>
    public long? Percentile(double fraction)
    {
        var total = Total;
        if (total == 0)
        {
            return null;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(fraction * total));
        long seen = 0;
        for (var i = 0; i < Counts.Length; i++)
        {
            seen += Counts[i];
            if (seen >= rank)
            {
                return UpperBounds[i];
            }
        }

        return UpperBounds[^1];
    }

    private static List<long> BuildUpperBounds()
    {
        var bounds = new List<long>();
        for (long ms = 0; ms <= LinearLimit; ms++)
        {
            bounds.Add(ms);
        }

        var edge = (double)LinearLimit;
        while (bounds[^1] < MaxMs)
        {
            edge *= Growth;
            bounds.Add(Math.Min(MaxMs, Math.Max(bounds[^1] + 1, (long)Math.Floor(edge))));
        }

        return bounds;
    }
}
