using PlayMusic.Hosting;
using PlayMusic.Modes;

namespace PlayMusic.Api.Modes;

/// <summary>The catalog as this node serves it: pre-serialised JSON and its ETag.</summary>
public sealed record CachedModeCatalog(ModeCatalog Catalog, byte[] Json, string ETag);

/// <summary>
/// Keeps this node's copy of the mode catalog no more than a second behind the stored catalog, so
/// <c>GET /api/config/modes</c> is answered from memory and a LiveOps change reaches every node
/// within the promised two seconds. Refreshes read the stored catalog on the gateway silo
/// (<see cref="ModeCatalogReader"/>): asking the catalog grain failed for seconds after its silo died,
/// until the cluster declared the silo dead.
/// </summary>
public sealed class ModeCatalogCache(IGrainFactory grains, ModeCatalogReader reader, ILogger<ModeCatalogCache> logger) : BackgroundService
{
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private CachedModeCatalog? _current;

    public async ValueTask<CachedModeCatalog> GetAsync() => Volatile.Read(ref _current) ?? await RefreshAsync();

    /// <summary>The change's outcome and this node's copy of the catalog after it (changed or not).</summary>
    public async Task<(ModePutError Error, CachedModeCatalog Current)> PutAsync(GameMode mode, IReadOnlyList<string>? ifMatch)
    {
        var result = await grains.GetGrain<IModeCatalogGrain>(IModeCatalogGrain.Key).PutAsync(mode, ifMatch);
        return (result.Error, Store(result.Catalog));
    }

    private async Task<CachedModeCatalog> RefreshAsync() =>
        Store(await reader.ReadAsync());

    /// <summary>
    /// Keeps the newest version seen: a refresh that read the grain just before a PUT may return after it,
    /// and must not put the older catalog back.
    /// </summary>
    private CachedModeCatalog Store(ModeCatalog catalog)
    {
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (current is not null && catalog.Version <= current.Catalog.Version)
            {
                return current;
            }

            var json = catalog.ToJson();
            var fresh = new CachedModeCatalog(catalog, json, ModeCatalog.EntityTagOf(json));
            if (Interlocked.CompareExchange(ref _current, fresh, current) == current)
            {
                return fresh;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefreshInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RefreshAsync().WaitAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Mode catalog refresh failed; serving the previous copy");
            }
        }
    }
}

public static class ModeCatalogExtensions
{
    /// <summary>This node's in-memory copy of the mode catalog, refreshed every second.</summary>
    public static IHostApplicationBuilder AddPlayMusicModeCatalog(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ModeCatalogCache>().AddHostedService(sp => sp.GetRequiredService<ModeCatalogCache>());
        return builder;
    }
}
