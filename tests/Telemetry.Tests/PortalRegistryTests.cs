using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using PlayMusic.Api.Telemetry;
using PlayMusic.Hosting;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>
/// How each node keeps the portal registry: one read at a time, requests never waiting once it is loaded.
/// Reads are counted by the tracing filter of the registry's own data source (Npgsql consults it for every
/// batch while something listens to its activities).
/// </summary>
public sealed class PortalRegistryTests : DatabaseTest, IDisposable
{
    private readonly ActivityListener _listener = new()
    {
        ShouldListenTo = source => source.Name == "Npgsql",
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
    };

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private int _reads;

    public PortalRegistryTests() => ActivitySource.AddActivityListener(_listener);

    [Fact]
    public async Task Is_read_once_however_many_requests_arrive_when_it_is_due()
    {
        await using var dataSource = await MigratedDataSourceAsync();
        var registry = new PortalRegistry(dataSource, _clock, NullLogger<PortalRegistry>.Instance);
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => registry.GetAsync().AsTask()));
        Assert.Equal(1, Volatile.Read(ref _reads));

        await Database.ScalarAsync<int>("INSERT INTO telemetry_portal_hosts (host_suffix, portal) VALUES ('playgama-mirror.example', 'playgama') RETURNING 1");
        _clock.Advance(TimeSpan.FromSeconds(31));

        // Due: answered at once from the registry already loaded, while one read refreshes it.
        var first = registry.GetAsync();
        Assert.True(first.IsCompletedSuccessfully);
        Assert.Equal("unknown", (await first).Resolve(null, "playgama-mirror.example"));
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => registry.GetAsync().AsTask()));
        await Poll.UntilAsync(async () => (await registry.GetAsync()).Resolve(null, "playgama-mirror.example") == "playgama", "the refreshed registry is served");
        Assert.Equal(2, Volatile.Read(ref _reads));
    }

    [Fact]
    public async Task A_failed_refresh_keeps_the_loaded_registry_and_waits_an_interval_before_the_next_read()
    {
        await using var dataSource = await MigratedDataSourceAsync();
        var failures = new FailureSignal();
        var registry = new PortalRegistry(dataSource, _clock, failures);
        await registry.GetAsync();
        await Database.ScalarAsync<int>("ALTER TABLE telemetry_portal_hosts RENAME TO telemetry_portal_hosts_gone; SELECT 1");
        _clock.Advance(TimeSpan.FromSeconds(31));

        Assert.Equal("y8", (await registry.GetAsync()).Resolve(null, "www.y8.com"));
        // The failure has been handled (its interval starts now, before the clock moves on again).
        await failures.Logged.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, Volatile.Read(ref _reads));
        await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ => Assert.Equal("y8", (await registry.GetAsync()).Resolve(null, "www.y8.com"))));
        Assert.Equal(2, Volatile.Read(ref _reads));

        await Database.ScalarAsync<int>("ALTER TABLE telemetry_portal_hosts_gone RENAME TO telemetry_portal_hosts; SELECT 1");
        _clock.Advance(TimeSpan.FromSeconds(31));
        await Poll.UntilAsync(async () =>
        {
            await registry.GetAsync();
            return Volatile.Read(ref _reads) == 3;
        }, "the next interval's read is tried");
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>Completes when the registry logs its refresh failure (it does so once the failure is handled).</summary>
    private sealed class FailureSignal : ILogger<PortalRegistry>
    {
        public TaskCompletionSource Logged { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                Logged.TrySetResult();
            }
        }
    }

    /// <summary>The test database with the project's migrations, and a data source that counts its batches.</summary>
    private async Task<NpgsqlDataSource> MigratedDataSourceAsync()
    {
        await using (var plain = Database.CreateDataSource())
        {
            await new DatabaseMigrator(plain, NullLogger<DatabaseMigrator>.Instance).ApplyAsync();
        }

        var builder = new NpgsqlDataSourceBuilder(Database.ConnectionString);
        builder.ConfigureTracing(tracing => tracing.ConfigureBatchFilter(_ =>
        {
            Interlocked.Increment(ref _reads);
            return true;
        }));
        return builder.Build();
    }
}
