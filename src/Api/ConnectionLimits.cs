using System.Globalization;

namespace PlayMusic.Api;

/// <summary>
/// Caps Kestrel's connections below the process's open-file limit. Kestrel accepts without limit by default: a burst
/// of ~20,000 connections on a host whose limit is 20,000 used every descriptor, and the runtime then aborted the
/// process ("Out of memory."), ending every room and session on it. Past the cap Kestrel closes a new connection at
/// once and the process lives.
/// </summary>
public static class ConnectionLimits
{
    /// <summary>Connections of each kind (HTTP, and upgraded WebSockets, which stop counting as HTTP connections).</summary>
    public const string Setting = "PLAYMUSIC_MAX_CONNECTIONS";

    /// <summary>Descriptors kept for all but client connections: database pools, Orleans, files, the runtime.</summary>
    private const long ReservedDescriptors = 1024;

    public static WebApplicationBuilder AddPlayMusicConnectionLimits(this WebApplicationBuilder builder)
    {
        var perKind = builder.Configuration[Setting] is { } configured
            ? int.TryParse(configured, NumberStyles.None, CultureInfo.InvariantCulture, out var given) && given > 0
                ? given
                : throw new InvalidOperationException($"{Setting} must be a whole number above 0, not '{configured}'")
            : Math.Max(100, (OpenFileLimit() - ReservedDescriptors) / 2);
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.Limits.MaxConcurrentConnections = perKind;
            options.Limits.MaxConcurrentUpgradedConnections = perKind;
        });
        return builder;
    }

    /// <summary>The soft limit on open files (Linux' <c>/proc/self/limits</c>), or 65,536 where it cannot be read.</summary>
    private static long OpenFileLimit()
    {
        const long unknown = 65_536;
        try
        {
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var columns = line?.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return columns is [_, var soft, ..] && long.TryParse(soft, CultureInfo.InvariantCulture, out var limit) ? limit : unknown;
        }
        catch (IOException)
        {
            return unknown;
        }
    }
}
