using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>A 2xx means stored: SIGKILL of the API process right after N acknowledgements loses none of them.</summary>
public sealed class CrashDurabilityTests : DatabaseTest
{
    private const int Acknowledgements = 300;

    [Fact]
    public async Task Acknowledged_events_survive_sigkill_and_counters_recount_them_after_restart()
    {
        var settings = ApiHost.Settings(Database.ConnectionString, FreePort.Next(), FreePort.Next());
        settings["PLAYMUSIC_URLS"] = $"http://127.0.0.1:{FreePort.Next()}";
        await using var process = await ApiProcess.StartAsync(settings);
        using var http = new HttpClient { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        var guest = await (await http.PostAsJsonAsync("/api/auth/guest", new { })).Content.ReadFromJsonAsync<JsonElement>();
        var engine = new EngineClient(http, guest.GetProperty("token").GetString()!);

        var sessions = new ConcurrentBag<Guid>();
        var perfs = new ConcurrentBag<Guid>();
        var beacons = new ConcurrentBag<Guid>();
        var acknowledged = 0;
        void Acknowledge(ConcurrentBag<Guid> bag, Guid id)
        {
            bag.Add(id);
            if (Interlocked.Increment(ref acknowledged) == Acknowledgements)
            {
                process.Kill();
            }
        }

        async Task EngineLoopAsync()
        {
            try
            {
                while (Volatile.Read(ref acknowledged) < Acknowledgements)
                {
                    var loadId = Guid.NewGuid();
                    using var start = await engine.StartAsync(new { gameId = "crash-song", mode = "runner", loadId });
                    if (start.StatusCode != HttpStatusCode.Created)
                    {
                        return;
                    }

                    var session = (await start.Content.ReadFromJsonAsync<StartedSession>())!;
                    Acknowledge(sessions, session.SessionId);
                    using var perf = await engine.PerfAsync(session.SessionId, session.PerfToken, new { steps = EngineClient.Steps(100, 20, 300, 40) });
                    if (perf.StatusCode == HttpStatusCode.Accepted)
                    {
                        Acknowledge(perfs, session.SessionId);
                    }

                    var lost = Guid.NewGuid();
                    using var beacon = await engine.BeaconAsync(new { loadId = lost, gameId = "crash-song", stage = "audio", elapsedMs = 2000 });
                    if (beacon.StatusCode == HttpStatusCode.NoContent)
                    {
                        Acknowledge(beacons, lost);
                    }
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // The process died under this request: it was never acknowledged.
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => EngineLoopAsync()));
        Assert.True(acknowledged >= Acknowledgements, $"only {acknowledged} events were acknowledged before the process died:\n{process.Output}");

        Assert.Empty(await MissingAsync("telemetry_sessions", "session_id", sessions));
        Assert.Empty(await MissingAsync("telemetry_perf", "session_id", perfs));
        Assert.Empty(await MissingAsync("telemetry_dropouts", "load_id", beacons));

        // The counters were in the dead process: a new cluster recounts them from the raw tables.
        await using var restarted = await ApiHost.StartAsync(Database.ConnectionString, new Dictionary<string, string?> { ["PLAYMUSIC_CLUSTER_ID"] = "after-crash" });
        using var admin = restarted.Client(restarted.AdminToken());
        // Yesterday too: a run that crosses 00:00 UTC wrote some events on each day (the database is this test's own).
        var today = DateTime.UtcNow.Date;
        var (from, to) = (today.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        var unknown = (await admin.GetFromJsonAsync<List<JsonElement>>($"/api/admin/portals?from={from}&to={to}"))!
            .Single(p => p.GetProperty("portal").GetString() == "unknown");
        Assert.Equal(await Database.ScalarAsync<long>("SELECT count(*) FROM telemetry_sessions"), unknown.GetProperty("sessions").GetInt64());
        Assert.Equal(await Database.ScalarAsync<long>("SELECT count(*) FROM telemetry_dropouts"), unknown.GetProperty("dropouts").GetInt64());
    }

    private async Task<List<Guid>> MissingAsync(string table, string column, IEnumerable<Guid> ids)
    {
        await using var dataSource = Database.CreateDataSource();
        await using var command = dataSource.CreateCommand($"SELECT id FROM unnest($1::uuid[]) AS t(id) WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {column} = t.id)");
        command.Parameters.AddWithValue(ids.ToArray());
        var missing = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            missing.Add(reader.GetGuid(0));
        }

        return missing;
    }
}
