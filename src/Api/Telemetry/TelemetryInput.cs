using System.Text.RegularExpressions;
using PlayMusic.Api.Errors;

namespace PlayMusic.Api.Telemetry;

/// <summary>Field rules of PROTOCOL §3; each check returns the 400 that names the field, or null.</summary>
public static partial class TelemetryInput
{
    public const int MaxStepMs = 600_000;
    public const int MaxElapsedMs = 3_600_000;
    public const long MaxDurationMs = 24L * 3_600_000;
    public const int MaxReferrerLength = 2048;

    public static IReadOnlyList<string> Stages { get; } = ["download", "config", "assets", "audio"];

    public static IReadOnlyList<string> DeviceTiers { get; } = ["low", "mid", "high"];

    /// <summary>ISO 3166-1 alpha-2, officially assigned codes.</summary>
    private static readonly HashSet<string> Countries = """
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
        CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
        GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
        JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
        MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
        RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
        TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
        """.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);

    public static ProblemHttpResult? Uuid(string field, string? value, out Guid id)
    {
        id = Guid.Empty;
        return value is not null && UuidPattern().IsMatch(value) && Guid.TryParse(value, out id)
            ? null
            : ApiProblem.Invalid(field, "must be a UUID (8-4-4-4-12 hex digits)");
    }

    public static ProblemHttpResult? GameId(string? value) =>
        value is not null && GameIdPattern().IsMatch(value) ? null : ApiProblem.Invalid("gameId", "must be 1 to 64 characters of A-Z a-z 0-9 _ -");

    /// <summary>Normalises to upper case; absent is fine.</summary>
    public static ProblemHttpResult? Country(string? value, out string? country)
    {
        country = value?.ToUpperInvariant();
        return country is null || Countries.Contains(country) ? null : ApiProblem.Invalid("country", "must be an ISO 3166-1 alpha-2 country code, e.g. \"DE\"");
    }

    public static ProblemHttpResult? DeviceTier(string? value) =>
        value is null || DeviceTiers.Contains(value) ? null : ApiProblem.Invalid("deviceTier", "must be one of low, mid, high");

    public static ProblemHttpResult? Referrer(string? value) =>
        value is null || value.Length <= MaxReferrerLength ? null : ApiProblem.Invalid("referrer", $"must be at most {MaxReferrerLength} characters");

    /// <summary>A duration in milliseconds; fractions (performance.now() differences) are rounded.</summary>
    public static ProblemHttpResult? Milliseconds(string field, double? value, long max, bool required, out long ms)
    {
        ms = 0;
        if (value is null)
        {
            return required ? ApiProblem.Invalid(field, "is required") : null;
        }

        if (!double.IsFinite(value.Value) || value < 0 || value > max)
        {
            return ApiProblem.Invalid(field, $"must be a number of milliseconds from 0 to {max}");
        }

        ms = (long)Math.Round(value.Value);
        return null;
    }

    [GeneratedRegex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\z")]
    private static partial Regex UuidPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}\\z")]
    public static partial Regex GameIdPattern();

    [GeneratedRegex(@"^[\x21-\x7E]{1,32}\z")]
    public static partial Regex EngineVersionPattern();
}
