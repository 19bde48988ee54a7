using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PlayMusic.Competitions;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// When a silo starts, activates every tournament that is not over, so lifecycle timers are armed at
/// once rather than at the next reminder tick (up to a minute later). Activation is idempotent, so
/// several silos doing this together is harmless.
/// </summary>
public sealed class TournamentScheduleSweep(TournamentDirectory directory, IGrainFactory grains, ILogger<TournamentScheduleSweep> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var ids = await directory.OpenIdsAsync(stoppingToken);
            await Task.WhenAll(ids.Select(id => grains.GetGrain<ITournamentGrain>(id).EnsureScheduledAsync()));
            logger.LogInformation("Armed the lifecycle of {Count} open tournaments", ids.Count);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // The reminders still re-arm every tournament within a minute.
            logger.LogWarning(ex, "Could not activate open tournaments at start");
        }
    }
}
