using System.Globalization;

namespace PlayMusic.Analytics;

/// <summary>
/// Where committed telemetry travels: one memory stream per portal × UTC day, consumed by the
/// implicitly subscribed <see cref="IPortalDayCounterGrain"/> of the same key.
/// </summary>
public static class TelemetryStreams
{
    public const string ProviderName = "telemetry";

    public const string Namespace = "portal-day";

    public const string DateFormat = "yyyy-MM-dd";

    /// <summary>The key of a counter grain and of its stream: <c>portal/yyyy-MM-dd</c>.</summary>
    public static string Key(string portal, DateOnly day) => $"{portal}/{day.ToString(DateFormat, CultureInfo.InvariantCulture)}";

    public static (string Portal, DateOnly Day) ParseKey(string key)
    {
        var slash = key.LastIndexOf('/');
        return (key[..slash], DateOnly.ParseExact(key[(slash + 1)..], DateFormat, CultureInfo.InvariantCulture));
    }

    public static DateOnly Day(DateTime utc) => DateOnly.FromDateTime(utc);
}
