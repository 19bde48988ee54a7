namespace PlayMusic.Analytics;

/// <summary>
/// The committed telemetry of one writer batch for one portal × day. <see cref="TransactionId"/> is
/// the PostgreSQL transaction that stored it, so a counter grain that has just recounted from the
/// raw tables can tell whether its snapshot already includes these events. <see cref="ResolvedDropouts"/>
/// are loads counted here as drop-outs that have since got a session (on any portal or day).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PortalDayEvents(
    long TransactionId,
    IReadOnlyList<SessionCounted> Sessions,
    IReadOnlyList<PerfCounted> Perfs,
    IReadOnlyList<DropoutCounted> Dropouts,
    IReadOnlyList<PlayerReturned> Returns,
    IReadOnlyList<Guid> ResolvedDropouts);

/// <summary>
/// What one stream message carries to a portal × day counter: the events of every batch the
/// writer counted at once, one entry per transaction (fewer messages when the writer is busy).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PortalDayEventBatch(IReadOnlyList<PortalDayEvents> Transactions);

/// <summary>Dimensions of a counter cell; an absent country or tier is the empty string.</summary>
[GenerateSerializer, Immutable]
public sealed record Dimensions(string Country, string DeviceTier)
{
    public static Dimensions Of(string? country, string? deviceTier) => new(country ?? "", deviceTier ?? "");

    public bool Matches(CounterFilter filter) =>
        (filter.Country is null || filter.Country == Country) && (filter.DeviceTier is null || filter.DeviceTier == DeviceTier);
}

/// <param name="IsReplay">the player had an earlier session of the same game</param>
/// <param name="IsFirstSession">the player's first session anywhere: it founds the retention cohort of this portal × day</param>
[GenerateSerializer, Immutable]
public sealed record SessionCounted(Guid LoadId, string PlayerId, Dimensions Dimensions, bool IsReplay, bool IsFirstSession);

/// <summary>Load-time steps of one session, in milliseconds.</summary>
[GenerateSerializer, Immutable]
public sealed record PerfCounted(Dimensions Dimensions, int DownloadMs, int ConfigMs, int AssetsMs, int AudioMs);

/// <summary>The first beacon of a load that had no session when it was stored.</summary>
[GenerateSerializer, Immutable]
public sealed record DropoutCounted(Guid LoadId, Dimensions Dimensions);

/// <summary>A player of this portal × day's cohort came back <see cref="DayOffset"/> days later.</summary>
[GenerateSerializer, Immutable]
public sealed record PlayerReturned(string PlayerId, Dimensions CohortDimensions, int DayOffset);
