using Orleans.Concurrency;

namespace PlayMusic.Analytics;

[GenerateSerializer, Immutable]
public sealed record CounterFilter(string? Country, string? DeviceTier);

/// <summary>
/// One portal × day's counters as far as a filter selects them. Player sets are returned (not
/// counts) so that several days merge into exact distinct counts.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PortalDayCounts(
    long Sessions,
    long Dropouts,
    IReadOnlyList<string> Players,
    IReadOnlyList<string> Replayers,
    IReadOnlyList<LoadHistogram> Load,
    int CohortSize,
    IReadOnlyList<int> Returned)
{
    /// <summary>The retention horizons (days after first-seen day) that <see cref="Returned"/> counts, in order.</summary>
    public static IReadOnlyList<int> RetentionDays { get; } = [1, 7, 14];
}

/// <summary>
/// Derived counters of one portal × UTC day (key <see cref="TelemetryStreams.Key"/>) with country
/// and device-tier dimensions. Fed by the telemetry stream; recounted from the raw tables on its first
/// read after activation and every few minutes, so it never holds anything the raw events do not say.
/// </summary>
public interface IPortalDayCounterGrain : IGrainWithStringKey
{
    /// <summary>Interleaves with a running recount: answers from the last completed one.</summary>
    [AlwaysInterleave]
    Task<PortalDayCounts> GetAsync(CounterFilter filter);
}
