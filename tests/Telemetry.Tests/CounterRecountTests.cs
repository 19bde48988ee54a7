using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using PlayMusic.Analytics;
using PlayMusic.Grains.Analytics;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>
/// When a counter recounts: not when the ingest activates it (after a restart that is every counter
/// of the day at once, competing with the ingest), but on its first read and on its timer; in between
/// the stream keeps it current. Its own app, so no other test's reads have recounted anything.
/// </summary>
public sealed class CounterRecountTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private readonly ApiHost _host = fixture.Host;

    [Fact]
    public async Task A_counter_activated_by_the_ingest_recounts_on_its_first_read_and_then_follows_the_stream()
    {
        // This app's own instrument (other test classes run their apps in the same process).
        var instrument = _host.App.Services.GetRequiredService<CounterMetrics>().RecountDuration;
        var recountCount = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (published, l) =>
        {
            if (ReferenceEquals(published, instrument))
            {
                l.EnableMeasurementEvents(published);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref recountCount));
        listener.Start();
        int RecountsSoFar() => Volatile.Read(ref recountCount);

        // Read before any session is written, so every session of the test is stamped on this day or (a run that
        // crosses 00:00 UTC) the next; the report below reads both from the first read on.
        var day = DateOnly.FromDateTime(DateTime.UtcNow);
        var engine = new EngineClient(_host.Http, (await _host.GuestAsync()).Token);
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => engine.StartSessionAsync(portal: "y8", country: "NL")));

        var grains = _host.App.Services.GetRequiredService<IGrainFactory>();
        var counters = new[] { day, day.AddDays(1) }.Select(d => (GrainReference)grains.GetGrain<IPortalDayCounterGrain>(TelemetryStreams.Key("y8", d))).ToList();
        var management = grains.GetGrain<IManagementGrain>(0);
        await Poll.UntilAsync(async () => (await Task.WhenAll(counters.Select(management.GetGrainActivationCount))).Sum() > 0,
            "the stream activates the y8 counter");
        // No call can wait for an activation without reading the counter, so give a recount on
        // activation (~50 ms on this database) ample time to show before asserting there was none.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(0, RecountsSoFar());

        using var admin = _host.Client(_host.AdminToken());
        var (from, to) = (day.ToString(TelemetryStreams.DateFormat, CultureInfo.InvariantCulture), day.AddDays(1).ToString(TelemetryStreams.DateFormat, CultureInfo.InvariantCulture));
        async Task<long> SessionsAsync()
        {
            var report = await admin.GetFromJsonAsync<List<JsonElement>>($"/api/admin/portals?from={from}&to={to}&country=NL");
            return report!.Single(p => p.GetProperty("portal").GetString() == "y8").GetProperty("sessions").GetInt64();
        }

        Assert.Equal(5, await SessionsAsync());
        var recounts = RecountsSoFar();
        Assert.True(recounts >= 1, "the first read recounts");

        await engine.StartSessionAsync(portal: "y8", country: "NL");
        await Poll.UntilAsync(async () => await SessionsAsync() == 6, "the stream adds the new session");
        Assert.Equal(recounts, RecountsSoFar());
    }
}

/// <summary>The first read's recount interleaves with stream deliveries; its own app, so only its counter recounts.</summary>
public sealed class CounterFirstRecountTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private readonly ApiHost _host = fixture.Host;

    [Fact]
    public async Task Sessions_the_stream_delivers_while_the_first_recount_runs_are_counted()
    {
        var day = DateOnly.FromDateTime(DateTime.UtcNow);
        var engine = new EngineClient(_host.Http, (await _host.GuestAsync()).Token);
        await engine.StartSessionAsync(portal: "gamepix"); // wakes the counter; it has not recounted yet
        var grains = _host.App.Services.GetRequiredService<IGrainFactory>();
        var counter = grains.GetGrain<IPortalDayCounterGrain>(TelemetryStreams.Key("gamepix", day));

        // The recount takes its snapshot, then waits for a lock on telemetry_perf, which session starts do not touch.
        await using var locker = new Npgsql.NpgsqlConnection(fixture.Database.ConnectionString);
        await locker.OpenAsync();
        await using var transaction = await locker.BeginTransactionAsync();
        await using (var lockTable = new Npgsql.NpgsqlCommand("LOCK TABLE telemetry_perf IN ACCESS EXCLUSIVE MODE", locker, transaction))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        var firstRead = counter.GetAsync(new CounterFilter(null, null));
        await Poll.UntilAsync(async () => await fixture.Database.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%player_first%'") > 0, "the recount waits for the lock");

        // Committed after the recount's snapshot: only the stream can bring them, and it does so while the recount
        // runs (the counting loop publishes within ~50 ms of a commit; the lock is held well past that).
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => engine.StartSessionAsync(portal: "gamepix")));
        await Task.Delay(TimeSpan.FromSeconds(2));
        await transaction.CommitAsync();

        // Before, a delivery during the first recount was dropped: 1 until the next recount, minutes later.
        Assert.Equal(4, (await firstRead).Sessions);
        Assert.Equal(4, (await counter.GetAsync(new CounterFilter(null, null))).Sessions);
    }
}
