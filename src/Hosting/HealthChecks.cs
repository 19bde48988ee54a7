using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Orleans;
using Orleans.Runtime;
using PlayMusic.Modes;

namespace PlayMusic.Hosting;

/// <summary>
/// Ready only while PostgreSQL answers a query within two seconds, asked over a pool of its own: a burst that holds
/// every connection of the main pool makes the node busy, not unready, and taking it out of the load balancer would
/// only move the burst onto the other nodes, which share the database.
/// </summary>
internal sealed class DatabaseHealthCheck([FromKeyedServices(DatabaseHealthCheck.PoolKey)] NpgsqlDataSource dataSource) : IHealthCheck
{
    public const string PoolKey = "playmusic-readiness";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("database unreachable: " + ex.GetType().Name);
        }
    }
}

/// <summary>Ready only while this process's silo is an active cluster member.</summary>
internal sealed class SiloHealthCheck(ILocalSiloDetails localSilo, IClusterMembershipService membership) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(localSilo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"silo is {status}"));
    }
}

/// <summary>
/// Ready only while the cluster answers a grain call through this client's gateways. The call is answered on the
/// gateway silo itself (<see cref="ModeCatalogReader"/>, which reads PostgreSQL there), so the death of another silo
/// does not make every API node unready while the cluster declares it.
/// </summary>
internal sealed class ClusterClientHealthCheck(ModeCatalogReader catalog) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await catalog.ReadAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("cluster unreachable: " + ex.GetType().Name);
        }
    }
}
