using Npgsql;

namespace PlayMusic.Api.Telemetry;

public sealed record Portal(string Id, string DisplayName);

/// <summary>The portal registry as loaded from <c>telemetry_portals</c>/<c>telemetry_portal_hosts</c>.</summary>
public sealed class PortalDirectory(IReadOnlyList<Portal> portals, IReadOnlyDictionary<string, string> portalByHostSuffix)
{
    public const string Unknown = "unknown";

    /// <summary>The registered portals in display order.</summary>
    public IReadOnlyList<Portal> Portals { get; } = portals;

    /// <summary>
    /// An explicit known portal wins; an unknown explicit one is ignored; else the referrer's host
    /// (or a parent domain of it) is looked up, the longest registered suffix winning; else <see cref="Unknown"/>.
    /// </summary>
    public string Resolve(string? explicitPortal, string? referrerHost)
    {
        var requested = explicitPortal?.Trim().ToLowerInvariant();
        if (requested is not null && Portals.Any(p => p.Id == requested))
        {
            return requested;
        }

        for (var host = referrerHost; !string.IsNullOrEmpty(host); host = ParentDomain(host))
        {
            if (portalByHostSuffix.TryGetValue(host, out var portal))
            {
                return portal;
            }
        }

        return Unknown;
    }

    /// <summary>The lowercase host of a referrer URL (or of a bare host name), or null.</summary>
    public static string? HostOf(string? referrer)
    {
        if (string.IsNullOrWhiteSpace(referrer))
        {
            return null;
        }

        var text = referrer.Trim();
        if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "https://" + text;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return null;
        }

        try
        {
            return uri.IdnHost.Length > 0 ? uri.IdnHost.TrimEnd('.').ToLowerInvariant() : null;
        }
        catch (UriFormatException)
        {
            // TryCreate takes hosts that have no punycode form (a label mixing left-to-right and right-to-left
            // letters, or too long once encoded): no host, as for any other referrer that is not a URL.
            return null;
        }
    }

    private static string? ParentDomain(string host)
    {
        var dot = host.IndexOf('.');
        return dot < 0 ? null : host[(dot + 1)..];
    }
}

/// <summary>
/// Serves the registry from memory, re-reading the tables at most every <see cref="RefreshInterval"/>.
/// One read at a time, and only the first one is waited for: once the interval has passed, requests are
/// answered from the loaded registry while one of them refreshes it (under load every request used to
/// start its own read the moment the interval passed).
/// </summary>
public sealed class PortalRegistry(NpgsqlDataSource dataSource, TimeProvider time, ILogger<PortalRegistry> logger)
{
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private Loaded? _loaded;
    private Task<PortalDirectory>? _refresh;

    public ValueTask<PortalDirectory> GetAsync()
    {
        if (Volatile.Read(ref _loaded) is not { } loaded)
        {
            return new(ReadNowAsync());
        }

        if (time.GetUtcNow() - loaded.At >= RefreshInterval)
        {
            _ = ReadNowAsync();
        }

        return new(loaded.Directory);
    }

    /// <summary>
    /// The read in flight, or a new one when none is: the registry as the database holds it now (also for an operator's
    /// action that names a portal added a moment ago).
    /// </summary>
    public Task<PortalDirectory> ReadNowAsync()
    {
        lock (_gate)
        {
            if (_refresh is not { IsCompleted: false })
            {
                _refresh = RefreshAsync();
            }

            return _refresh;
        }
    }

    private async Task<PortalDirectory> RefreshAsync()
    {
        try
        {
            var directory = await LoadAsync();
            Volatile.Write(ref _loaded, new Loaded(directory, time.GetUtcNow()));
            return directory;
        }
        catch (Exception ex) when (Volatile.Read(ref _loaded) is { } stale)
        {
            // Requests go on with the registry already loaded, and the next read waits an interval: during a
            // database outage every request would otherwise start one as soon as the last one failed.
            Volatile.Write(ref _loaded, stale with { At = time.GetUtcNow() });
            logger.LogWarning(ex, "Refreshing the portal registry failed; serving the one loaded before for another {Interval}", RefreshInterval);
            throw;
        }
    }

    private async Task<PortalDirectory> LoadAsync()
    {
        var portals = new List<Portal>();
        var hosts = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT portal, display_name FROM telemetry_portals ORDER BY sort_order, portal"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT lower(host_suffix), portal FROM telemetry_portal_hosts"));
        await using var reader = await batch.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            portals.Add(new Portal(reader.GetString(0), reader.GetString(1)));
        }

        await reader.NextResultAsync();
        while (await reader.ReadAsync())
        {
            hosts[reader.GetString(0)] = reader.GetString(1);
        }

        return new PortalDirectory(portals, hosts);
    }

    private sealed record Loaded(PortalDirectory Directory, DateTimeOffset At);
}
