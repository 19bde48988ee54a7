using System.Globalization;
using PlayMusic.Analytics;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Api.Telemetry;

namespace PlayMusic.Api.Apis;

public sealed record LoadPercentiles(long? P50, long? P75, long? P95);

public sealed record RetentionRates(double? D1, double? D7, double? D14);

public sealed record DailyPortalPoint(string Date, long Sessions, double DropoutRate, long? P75TotalMs);

/// <summary>PROTOCOL §5 portal report; <c>displayName</c> (from the registry) is an addition for people.</summary>
public sealed record PortalReport(
    string Portal,
    string DisplayName,
    long Sessions,
    long Players,
    long Dropouts,
    double DropoutRate,
    IReadOnlyDictionary<string, LoadPercentiles> LoadMs,
    double ReplayRate,
    RetentionRates Retention,
    IReadOnlyList<DailyPortalPoint> Daily);

/// <summary>PROTOCOL §5: per-portal KPIs for LiveOps, as JSON (admin) and as a page.</summary>
public static class PortalsApi
{
    public const int MaxDays = 92;
    public const int DefaultDays = 14;

    /// <summary>Days a report may ask about: the product's lifetime with room to spare, and no calendar overflow at either end.</summary>
    public static readonly DateOnly FirstDay = new(2000, 1, 1);
    public static readonly DateOnly LastDay = new(2999, 12, 31);

    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(PortalsApi).Assembly.GetManifestResourceStream("PortalsPage.html")!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static IEndpointRouteBuilder MapPortalsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapAdminGroup("/api/admin").MapGet("/portals", GetPortals);
        // The page itself is public: it holds no data and asks for the admin token to fetch any.
        endpoints.MapMethods("/liveops/portals", [HttpMethods.Get, HttpMethods.Head], (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["Content-Security-Policy"] =
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
            return TypedResults.Bytes(Page.Value, "text/html; charset=utf-8");
        });
        return endpoints;
    }

    private static async Task<Results<Ok<List<PortalReport>>, ProblemHttpResult>> GetPortals(
        string? from, string? to, string? country, string? deviceTier, PortalRegistry registry, IGrainFactory grains, TimeProvider time)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        if (ParseDay("to", to, today, out var last) is { } badTo)
        {
            return badTo;
        }

        if (ParseDay("from", from, last.DayNumber - FirstDay.DayNumber < DefaultDays ? FirstDay : last.AddDays(1 - DefaultDays), out var first) is { } badFrom)
        {
            return badFrom;
        }

        if (first > last || last.DayNumber - first.DayNumber >= MaxDays)
        {
            return ApiProblem.Invalid("from", $"must be on or before to, at most {MaxDays} days earlier");
        }

        // PROTOCOL §5 spells the filters `country=&deviceTier=`: empty means no filter.
        (country, deviceTier) = (QueryFilter.Optional(country), QueryFilter.Optional(deviceTier));
        if ((TelemetryInput.Country(country, out var normalizedCountry) ?? TelemetryInput.DeviceTier(deviceTier)) is { } bad)
        {
            return bad;
        }

        var filter = new CounterFilter(normalizedCountry, deviceTier);
        var days = Enumerable.Range(0, last.DayNumber - first.DayNumber + 1).Select(first.AddDays).ToList();
        var portals = (await registry.GetAsync()).Portals.Append(new Portal(PortalDirectory.Unknown, "Unknown / direct")).ToList();
        var counts = await Task.WhenAll(portals.Select(p => Task.WhenAll(days.Select(d =>
            grains.GetGrain<IPortalDayCounterGrain>(TelemetryStreams.Key(p.Id, d)).GetAsync(filter)))));
        return TypedResults.Ok(portals.Select((p, i) => Report(p, days, counts[i], today)).ToList());
    }

    private static PortalReport Report(Portal portal, List<DateOnly> days, PortalDayCounts[] counts, DateOnly today)
    {
        var sessions = counts.Sum(c => c.Sessions);
        var dropouts = counts.Sum(c => c.Dropouts);
        var players = counts.SelectMany(c => c.Players).ToHashSet();
        var replayers = counts.SelectMany(c => c.Replayers).ToHashSet();
        var load = new Dictionary<string, LoadPercentiles>();
        for (var m = 0; m < LoadHistogram.Metrics.Count; m++)
        {
            var merged = new LoadHistogram();
            foreach (var day in counts)
            {
                merged.Merge(day.Load[m]);
            }

            load[LoadHistogram.Metrics[m]] = new LoadPercentiles(merged.Percentile(0.50), merged.Percentile(0.75), merged.Percentile(0.95));
        }

        var retention = PortalDayCounts.RetentionDays.Select((offset, r) =>
        {
            // Only cohorts whose day N is over: a younger cohort cannot have come back yet.
            var mature = days.Select((d, i) => (Day: d, Counts: counts[i])).Where(x => x.Day.AddDays(offset) < today).ToList();
            var cohort = mature.Sum(x => x.Counts.CohortSize);
            return cohort == 0 ? (double?)null : Round((double)mature.Sum(x => x.Counts.Returned[r]) / cohort);
        }).ToList();

        var daily = days.Select((d, i) => new DailyPortalPoint(
            d.ToString(TelemetryStreams.DateFormat, CultureInfo.InvariantCulture),
            counts[i].Sessions,
            Rate(counts[i].Dropouts, counts[i].Sessions + counts[i].Dropouts),
            counts[i].Load[^1].Percentile(0.75))).ToList();

        return new PortalReport(portal.Id, portal.DisplayName, sessions, players.Count, dropouts, Rate(dropouts, sessions + dropouts),
            load, Rate(replayers.Count, players.Count), new RetentionRates(retention[0], retention[1], retention[2]), daily);
    }

    private static ProblemHttpResult? ParseDay(string field, string? value, DateOnly fallback, out DateOnly day)
    {
        day = fallback;
        // An emptied date field (`from=`) is the default, as the empty filters are.
        return QueryFilter.Optional(value) is null
            || (DateOnly.TryParseExact(value, TelemetryStreams.DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out day) && day >= FirstDay && day <= LastDay)
            ? null
            : ApiProblem.Invalid(field, $"must be a date YYYY-MM-DD from {FirstDay:yyyy-MM-dd} to {LastDay:yyyy-MM-dd}");
    }

    private static double Rate(long part, long whole) => whole == 0 ? 0 : Round((double)part / whole);

    private static double Round(double value) => Math.Round(value, 4, MidpointRounding.AwayFromZero);
}
