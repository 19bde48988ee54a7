using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Analytics;

/// <summary>What reconciling the portal counters with the raw tables costs (a recount reads a whole portal × day).</summary>
public sealed class CounterMetrics(Meter meter)
{
    public const string RecountDurationName = "playmusic.analytics.recount.duration";

    public Histogram<double> RecountDuration { get; } = meter.CreateHistogram(
        RecountDurationName, "s", "Time to recount one portal × day counter from the raw telemetry tables", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] });
}
