using System.Net;
using Microsoft.Extensions.Configuration;

namespace PlayMusic.Hosting;

/// <summary>
/// The process-level settings, read from configuration so that environment variables
/// (<c>PLAYMUSIC_DB=…</c>) and command-line arguments (<c>--PLAYMUSIC_DB=…</c>) both work.
/// </summary>
public sealed record PlayMusicSettings(
    string ConnectionString,
    string ClusterId,
    string ServiceId,
    IPAddress AdvertisedAddress,
    int SiloPort,
    int GatewayPort,
    string DataDirectory)
{
    public const string LocalConnectionFile = "database.conn";

    public static PlayMusicSettings From(IConfiguration configuration)
    {
        var dataDirectory = configuration["PLAYMUSIC_DATA_DIR"] ?? ".data";
        return new PlayMusicSettings(
            ConnectionStringFrom(configuration, dataDirectory),
            configuration["PLAYMUSIC_CLUSTER_ID"] ?? "playmusic",
            configuration["PLAYMUSIC_SERVICE_ID"] ?? "playmusic",
            IPAddress.Parse(configuration["PLAYMUSIC_SILO_ADDRESS"] ?? "127.0.0.1"),
            configuration.GetValue("PLAYMUSIC_SILO_PORT", 11111),
            configuration.GetValue("PLAYMUSIC_GATEWAY_PORT", 30000),
            dataDirectory);
    }

    /// <summary>
    /// A duration setting given in seconds, read when the host is built so a bad value stops the start with a clear
    /// message: zero or less would be a timer period or grace that fails (or spins) every grain that arms it.
    /// </summary>
    public static TimeSpan Seconds(IConfiguration configuration, string name, double defaultSeconds)
    {
        var seconds = configuration.GetValue(name, defaultSeconds);
        return double.IsFinite(seconds) && seconds > 0 && seconds <= TimeSpan.FromDays(1).TotalSeconds
            ? TimeSpan.FromSeconds(seconds)
            : throw new InvalidOperationException($"{name} must be a number of seconds above 0 and at most 86400, not {configuration[name]}");
    }

    /// <summary>
    /// <c>PLAYMUSIC_DB</c>, or else the local database that <c>./run.sh</c> set up and recorded in
    /// <c>&lt;data dir&gt;/database.conn</c>, so a silo started by hand next to it joins the same cluster.
    /// </summary>
    private static string ConnectionStringFrom(IConfiguration configuration, string dataDirectory)
    {
        var configured = configuration["PLAYMUSIC_DB"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        var recorded = Path.Combine(dataDirectory, LocalConnectionFile);
        return File.Exists(recorded)
            ? File.ReadAllText(recorded).Trim()
            : throw new InvalidOperationException(
                "PLAYMUSIC_DB is not set: give an Npgsql connection string, or start ./run.sh once to create a local PostgreSQL.");
    }
}
