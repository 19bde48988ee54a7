using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans;
using PlayMusic.Analytics;
using PlayMusic.Grains.Analytics;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>
/// Retention counts UTC days whatever time zone the database's sessions run in. Its own database, set to a zone
/// with daylight saving, and its own app, so the counter's first read recounts from the raw rows.
/// </summary>
public sealed class RetentionTimeZoneTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private ApiHost _host = null!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        await using (var server = NpgsqlDataSource.Create(TestDatabase.ServerConnectionString))
        {
            await server.CreateCommand($"ALTER DATABASE {_database.Name} SET timezone TO 'Europe/Berlin'").ExecuteNonQueryAsync();
        }

        _host = await ApiHost.StartAsync(_database.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task A_return_later_the_same_utc_day_is_not_a_d1_return_across_a_clock_change()
    {
        // Berlin went to summer time on 2025-03-30: that local day had 23 hours. First seen 10:00 UTC, back at
        // 23:30 UTC the same UTC day (day 0), never on 2025-03-31 UTC.
        await using (var dataSource = _database.CreateDataSource())
        {
            await dataSource.CreateCommand("""
                INSERT INTO telemetry_sessions (session_id, load_id, player_id, display_name, game_id, mode, portal, started_at)
                VALUES (gen_random_uuid(), gen_random_uuid(), 'p-dst', 'Night owl', 'song-1', 'runner', 'y8', '2025-03-30T10:00:00Z'),
                       (gen_random_uuid(), gen_random_uuid(), 'p-dst', 'Night owl', 'song-1', 'runner', 'y8', '2025-03-30T23:30:00Z')
                """).ExecuteNonQueryAsync();
        }

        var counter = _host.App.Services.GetRequiredService<IGrainFactory>().GetGrain<IPortalDayCounterGrain>(TelemetryStreams.Key("y8", new DateOnly(2025, 3, 30)));
        var counts = await counter.GetAsync(new CounterFilter(null, null));

        Assert.Equal(2, counts.Sessions);
        Assert.Equal(1, counts.CohortSize);
        Assert.Equal([0, 0, 0], counts.Returned);
    }
}
