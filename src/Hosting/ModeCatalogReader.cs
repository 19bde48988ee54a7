using Orleans;
using Orleans.Runtime;
using PlayMusic.Modes;

namespace PlayMusic.Hosting;

/// <summary>
/// Reads the stored mode catalog through <see cref="IModeCatalogReaderGrain"/> (a stateless worker on the silo the
/// call reaches), for the nodes' catalog copies and the API nodes' readiness. For a few seconds after a silo's SIGKILL
/// a client still sends some calls through that silo's gateway, which refuses them at once: a refused read is sent
/// again under another key, which the client may route through a live gateway (docs/scaling.md).
/// </summary>
public sealed class ModeCatalogReader(IGrainFactory grains)
{
    /// <summary>A read through a gateway that just died would otherwise wait for the grain-call timeout.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private const int Attempts = 3;

    private long _key;

    public Task<ModeCatalog> ReadAsync(CancellationToken cancellationToken = default) =>
        ReadWithRetriesAsync().WaitAsync(Timeout, cancellationToken);

    private async Task<ModeCatalog> ReadWithRetriesAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var key = Interlocked.Read(ref _key);
            try
            {
                return await grains.GetGrain<IModeCatalogReaderGrain>(key).GetAsync();
            }
            catch (OrleansMessageRejectionException) when (attempt < Attempts)
            {
                Interlocked.CompareExchange(ref _key, Random.Shared.NextInt64(), key);
            }
        }
    }
}
