using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using PlayMusic.Analytics;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>
/// The counter grains against the raw tables: drop-out/session races, a SQL recount, retention
/// from raw history, and percentiles of a known distribution. Tests keep apart by country.
/// </summary>
public sealed class PortalCountersTests(ApiFixture fixture) : IClassFixture<ApiFixture>, IAsyncLifetime
{
    private readonly TestDatabase _database = fixture.Database;
    private readonly ApiHost _host = fixture.Host;
    private EngineClient _engine = null!;
    private HttpClient _admin = null!;

    public async Task InitializeAsync()
    {
        _engine = new EngineClient(_host.Http, (await _host.GuestAsync()).Token);
        _admin = _host.Client(_host.AdminToken());
    }

    public Task DisposeAsync()
    {
        _admin.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Portals_report_is_admin_only_and_validates_its_query()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Http.GetAsync("/api/admin/portals")).StatusCode);
        using var player = _host.Client((await _host.GuestAsync()).Token);
        Assert.Equal(HttpStatusCode.Forbidden, (await player.GetAsync("/api/admin/portals")).StatusCode);
        await ProblemAssert.IsAsync(await _admin.GetAsync("/api/admin/portals?from=2024-13-01"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "from");
        await ProblemAssert.IsAsync(await _admin.GetAsync("/api/admin/portals?from=2024-02-01&to=2024-01-01"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "from");
        await ProblemAssert.IsAsync(await _admin.GetAsync("/api/admin/portals?country=Germany"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "country");
        await ProblemAssert.IsAsync(await _admin.GetAsync("/api/admin/portals?deviceTier=x"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "deviceTier");
        // Days at the ends of the calendar are refused, not overflowed into a 500.
        await ProblemAssert.IsAsync(await _admin.GetAsync("/api/admin/portals?to=0001-01-01"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "to");
        await ProblemAssert.IsAsync(await _admin.GetAsync("/api/admin/portals?from=9999-12-31&to=9999-12-31"), HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "to");
        Assert.Equal(14, (await ReportAsync("to=2000-01-14"))[0].GetProperty("daily").GetArrayLength());
        Assert.Equal(3, (await ReportAsync("to=2000-01-03"))[0].GetProperty("daily").GetArrayLength());
        // An emptied date field is the default (14 days ending today), as the empty filters below are no filter.
        Assert.Equal(14, (await ReportAsync("from=&to=2000-01-14"))[0].GetProperty("daily").GetArrayLength());

        // PROTOCOL §5 writes the filters as `country=&deviceTier=`: empty is no filter.
        // (Today only: other tests' raw rows of earlier days must meet counters that have not yet recounted.)
        var today = Day(DateTime.UtcNow);
        Assert.Equal(7, (await ReportAsync($"from={today}&to={today}&country=&deviceTier=")).Count);

        var report = await ReportAsync($"from={today}&to={today}");
        Assert.Equal(["playgama", "y8", "discord", "gamepix", "crazygames", "playmusic", "unknown"], report.Select(p => p.GetProperty("portal").GetString()));
        var daily = Assert.Single(report[0].GetProperty("daily").EnumerateArray());
        Assert.Equal(today, daily.GetProperty("date").GetString());
    }

    [Fact]
    public async Task Beacon_then_session_is_not_a_dropout()
    {
        var loadId = Guid.NewGuid();
        Assert.Equal(HttpStatusCode.NoContent, (await _engine.BeaconAsync(Beacon(loadId, "y8", "FR"))).StatusCode);
        await _engine.StartSessionAsync(loadId: loadId, portal: "y8", country: "FR");

        var y8 = await PollPortalAsync("y8", "country=FR", p => p.GetProperty("sessions").GetInt64() == 1);
        Assert.Equal(0, y8.GetProperty("dropouts").GetInt64());
        Assert.Equal(1L, await _database.ScalarAsync<long>($"SELECT count(*) FROM telemetry_dropouts WHERE load_id = '{loadId}'"));
    }

    [Fact]
    public async Task Session_then_beacon_is_not_a_dropout()
    {
        var loadId = Guid.NewGuid();
        await _engine.StartSessionAsync(loadId: loadId, portal: "y8", country: "IT");
        Assert.Equal(HttpStatusCode.NoContent, (await _engine.BeaconAsync(Beacon(loadId, "y8", "IT"))).StatusCode);
        // A control load without a session, sent last: once it is counted, the earlier beacon has been seen too.
        Assert.Equal(HttpStatusCode.NoContent, (await _engine.BeaconAsync(Beacon(Guid.NewGuid(), "y8", "IT"))).StatusCode);

        var y8 = await PollPortalAsync("y8", "country=IT", p => p.GetProperty("dropouts").GetInt64() >= 1);
        Assert.Equal(1, y8.GetProperty("dropouts").GetInt64());
        Assert.Equal(1, y8.GetProperty("sessions").GetInt64());
        Assert.Equal(0.5, y8.GetProperty("dropoutRate").GetDouble());
    }

    [Fact]
    public async Task A_session_attributed_elsewhere_still_cancels_the_dropout()
    {
        var loadId = Guid.NewGuid();
        Assert.Equal(HttpStatusCode.NoContent, (await _engine.BeaconAsync(Beacon(loadId, "playgama", "ES"))).StatusCode);
        await PollPortalAsync("playgama", "country=ES", p => p.GetProperty("dropouts").GetInt64() == 1);

        await _engine.StartSessionAsync(loadId: loadId, portal: "y8", country: "ES");

        // The session's counting tells the beacon's counter (another portal) through the stream, well before its next recount.
        var playgama = await PollPortalAsync("playgama", "country=ES", p => p.GetProperty("dropouts").GetInt64() == 0);
        Assert.Equal(0, playgama.GetProperty("dropouts").GetInt64());
    }

    [Fact]
    public async Task Counters_equal_a_sql_recount_of_the_raw_events()
    {
        var random = new Random(7);
        string[] countries = ["DE", "US", "BR"];
        string[] tiers = ["low", "mid", "high"];
        string[] referrers = ["https://www.y8.com/g", "https://playgama.com/g", "https://42.discordsays.com/", "https://www.crazygames.com/g", "https://elsewhere.example/"];
        var players = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ => new EngineClient(_host.Http, (await _host.GuestAsync()).Token)));
        var work = Enumerable.Range(0, 60).Select(i => (
            Player: players[random.Next(players.Length)], Game: $"game-{random.Next(3)}", Referrer: referrers[random.Next(referrers.Length)],
            Country: countries[random.Next(countries.Length)], Tier: tiers[random.Next(tiers.Length)], Kind: random.Next(4),
            Steps: EngineClient.Steps(random.Next(50, 5000), random.Next(0, 300), random.Next(100, 20000), random.Next(10, 3000)))).ToList();

        await Task.WhenAll(work.Select(async w =>
        {
            var loadId = Guid.NewGuid();
            if (w.Kind == 0)
            {
                // A drop-out: the load never got a session (sometimes the engine beacons twice).
                await _engine.BeaconAsync(new { loadId, gameId = w.Game, referrer = w.Referrer, stage = "assets", elapsedMs = 900, country = w.Country, deviceTier = w.Tier });
                await _engine.BeaconAsync(new { loadId, gameId = w.Game, referrer = w.Referrer, stage = "audio", elapsedMs = 1900, country = w.Country, deviceTier = w.Tier });
                return;
            }

            if (w.Kind == 1)
            {
                await _engine.BeaconAsync(new { loadId, gameId = w.Game, referrer = w.Referrer, stage = "config", elapsedMs = 300, country = w.Country, deviceTier = w.Tier });
            }

            var session = await w.Player.StartSessionAsync(w.Game, loadId, referrer: w.Referrer, country: w.Country, deviceTier: w.Tier);
            if (w.Kind != 3)
            {
                Assert.Equal(HttpStatusCode.Accepted, (await w.Player.PerfAsync(session.SessionId, session.PerfToken, new { steps = w.Steps })).StatusCode);
            }
        }));

        // Every event is acknowledged (so stored) by now: its day is in this range, and so is no other test's raw history.
        var days = Days();
        foreach (var filter in new[] { "", "country=DE", "deviceTier=low", "country=BR&deviceTier=high" })
        {
            var expected = await RecountAsync(days, filter);
            var actual = "";
            var deadline = DateTime.UtcNow + Poll.DefaultTimeout;
            while (actual != expected && DateTime.UtcNow < deadline)
            {
                actual = Describe(await ReportAsync($"{days.Query}&{filter}"));
                await Task.Delay(200);
            }

            Assert.Equal(expected, actual);

            // Perf events travel in later writer batches and stream messages than the sessions: poll them too.
            string? difference = null;
            deadline = DateTime.UtcNow + Poll.DefaultTimeout;
            while ((difference = await PercentileDifferenceAsync(days, filter)) is not null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }

            Assert.True(difference is null, $"with filter '{filter}': {difference}");
        }
    }

    [Fact]
    public async Task Retention_and_replay_are_recounted_from_raw_history()
    {
        // Raw rows written straight to the tables (as if their stream messages were lost): the
        // counters of those days have never been active, so they can only know them by recounting.
        var cohortDay = DateTime.UtcNow.Date.AddDays(-20);
        var returns = new Dictionary<string, int[]> { ["p1"] = [1, 7, 14], ["p2"] = [1], ["p3"] = [7, 8], ["p4"] = [] };
        var prefix = Guid.NewGuid().ToString("N")[..8];
        foreach (var (player, days) in returns)
        {
            foreach (var offset in days.Prepend(0))
            {
                await _database.ScalarAsync<int>($"""
                    INSERT INTO telemetry_sessions (session_id, load_id, player_id, display_name, game_id, mode, portal, country, device_tier, started_at)
                    VALUES (gen_random_uuid(), gen_random_uuid(), '{prefix}-{player}', 'P', 'song', 'runner', 'gamepix',
                            {(offset == 0 ? "'NO'" : "'SE'")}, 'mid', '{cohortDay.AddDays(offset).AddHours(10):O}')
                    RETURNING 1
                    """);
            }
        }

        var day = cohortDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var cohort = (await ReportAsync($"from={day}&to={day}&country=NO")).Single(p => p.GetProperty("portal").GetString() == "gamepix");
        var retention = cohort.GetProperty("retention");
        Assert.Equal(4, cohort.GetProperty("sessions").GetInt64());
        Assert.Equal(0.5, retention.GetProperty("d1").GetDouble());
        Assert.Equal(0.5, retention.GetProperty("d7").GetDouble());
        Assert.Equal(0.25, retention.GetProperty("d14").GetDouble());
        Assert.Equal(0, cohort.GetProperty("replayRate").GetDouble());

        var later = (await ReportAsync($"from={cohortDay.AddDays(1):yyyy-MM-dd}&to={cohortDay.AddDays(14):yyyy-MM-dd}&country=SE"))
            .Single(p => p.GetProperty("portal").GetString() == "gamepix");
        Assert.Equal(3, later.GetProperty("players").GetInt64());
        Assert.Equal(1.0, later.GetProperty("replayRate").GetDouble());
        Assert.Equal(6, later.GetProperty("sessions").GetInt64());
    }

    [Fact]
    public async Task Load_percentiles_match_a_known_distribution_within_the_bucket_error()
    {
        var sessions = await Task.WhenAll(Enumerable.Range(1, 100).Select(_ => _engine.StartSessionAsync(portal: "playmusic", country: "JP", deviceTier: "high")));
        await Task.WhenAll(sessions.Select((s, i) =>
            _engine.PerfAsync(s.SessionId, s.PerfToken, new { steps = EngineClient.Steps(10 * (i + 1), i + 1, 1000 + 50 * (i + 1), 7) })));

        // The perf events reach the counter through the stream: wait until it has all 100, then check.
        await PollPortalAsync("playmusic", "country=JP", p => MatchesKnownDistribution(p.GetProperty("loadMs")));
    }

    private static bool MatchesKnownDistribution(JsonElement load)
    {
        // Nearest rank over 1..100: p50 is the 50th value, p75 the 75th, p95 the 95th.
        (string Metric, string Percentile, long Exact)[] expected =
        [
            ("download", "p50", 500), ("download", "p75", 750), ("download", "p95", 950),
            ("config", "p50", 50), ("config", "p95", 95),
            ("assets", "p50", 3500), ("audio", "p95", 7),
            ("total", "p50", 500 + 50 + 3500 + 7), ("total", "p95", 950 + 95 + 5750 + 7),
        ];
        return expected.All(e => load.GetProperty(e.Metric).GetProperty(e.Percentile) is { ValueKind: JsonValueKind.Number } value
            && WithinBucket(e.Exact, value.GetInt64()));
    }

    private static bool WithinBucket(long exact, long reported) => reported >= exact && reported <= exact * LoadHistogram.Growth + 1;

    private static string Day(DateTime time) => time.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>
    /// Yesterday and today, read after a test's events were acknowledged: a run that crosses 00:00 UTC
    /// finds its events on either day. The fixture's database is fresh, so yesterday holds nothing else.
    /// </summary>
    private static (string From, string To, string Query) Days()
    {
        var today = DateTime.UtcNow.Date;
        var (from, to) = (Day(today.AddDays(-1)), Day(today));
        return (from, to, $"from={from}&to={to}");
    }

    private static object Beacon(Guid loadId, string portal, string country) =>
        new { loadId, gameId = "song", portal, stage = "download", elapsedMs = 1500, country };

    private async Task<List<JsonElement>> ReportAsync(string query)
    {
        using var response = await _admin.GetAsync("/api/admin/portals?" + query);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<List<JsonElement>>())!;
    }

    private async Task<JsonElement> PollPortalAsync(string portal, string filter, Func<JsonElement, bool> until)
    {
        var days = Days();
        JsonElement found = default;
        await Poll.UntilAsync(async () =>
        {
            found = (await ReportAsync($"{days.Query}&{filter}")).Single(p => p.GetProperty("portal").GetString() == portal);
            return until(found);
        }, $"{portal} with {filter} reaches the expected counters");
        return found;
    }

    private static string Describe(List<JsonElement> report) => string.Join("\n", report.Select(p =>
        string.Join(" ", p.GetProperty("portal").GetString(), p.GetProperty("sessions").GetInt64(), p.GetProperty("players").GetInt64(),
            p.GetProperty("dropouts").GetInt64(), p.GetProperty("dropoutRate").GetDouble().ToString(CultureInfo.InvariantCulture),
            p.GetProperty("replayRate").GetDouble().ToString(CultureInfo.InvariantCulture))));

    /// <summary>The same KPIs written independently in SQL over the raw tables.</summary>
    private async Task<string> RecountAsync((string From, string To, string Query) days, string filter)
    {
        var (country, tier) = Filter(filter);
        var where = $"{(country is null ? "" : $" AND country = '{country}'")}{(tier is null ? "" : $" AND device_tier = '{tier}'")}";
        var sql = $"""
            WITH s AS (SELECT * FROM telemetry_sessions WHERE (started_at AT TIME ZONE 'UTC')::date BETWEEN '{days.From}' AND '{days.To}' {where}),
            d AS (SELECT DISTINCT ON (load_id) * FROM telemetry_dropouts ORDER BY load_id, id),
            drops AS (SELECT * FROM d WHERE (received_at AT TIME ZONE 'UTC')::date BETWEEN '{days.From}' AND '{days.To}' {where}
                      AND NOT EXISTS (SELECT 1 FROM telemetry_sessions x WHERE x.load_id = d.load_id)),
            replays AS (SELECT DISTINCT portal, player_id FROM s WHERE EXISTS (SELECT 1 FROM telemetry_sessions p
                      WHERE p.player_id = s.player_id AND p.game_id = s.game_id AND (p.started_at, p.session_id) < (s.started_at, s.session_id)))
            SELECT string_agg(concat_ws(' ', p.portal, coalesce(ns, 0), coalesce(np, 0), coalesce(nd, 0),
                       CASE WHEN coalesce(ns, 0) + coalesce(nd, 0) = 0 THEN 0 ELSE round(coalesce(nd, 0)::numeric / (coalesce(ns, 0) + coalesce(nd, 0)), 4)::float8 END,
                       CASE WHEN coalesce(np, 0) = 0 THEN 0 ELSE round(coalesce(nr, 0)::numeric / np, 4)::float8 END), E'\n' ORDER BY p.ord)
            FROM (SELECT portal, sort_order AS ord FROM telemetry_portals UNION ALL SELECT 'unknown', 1000000) p
            LEFT JOIN (SELECT portal, count(*) ns, count(DISTINCT player_id) np FROM s GROUP BY portal) a ON a.portal = p.portal
            LEFT JOIN (SELECT portal, count(*) nd FROM drops GROUP BY portal) b ON b.portal = p.portal
            LEFT JOIN (SELECT portal, count(*) nr FROM replays GROUP BY portal) c ON c.portal = p.portal
            """;
        return (await _database.ScalarAsync<string>(sql))!;
    }

    /// <summary>Null when every portal's assets p50 and total p95 are within a bucket of SQL's exact ones; else what differs.</summary>
    private async Task<string?> PercentileDifferenceAsync((string From, string To, string Query) days, string filter)
    {
        var (country, tier) = Filter(filter);
        var report = await ReportAsync($"{days.Query}&{filter}");
        foreach (var portal in report)
        {
            var name = portal.GetProperty("portal").GetString();
            var exact = await _database.ScalarAsync<string>($"""
                SELECT concat_ws(' ', percentile_disc(0.5) WITHIN GROUP (ORDER BY assets_ms), percentile_disc(0.95) WITHIN GROUP (ORDER BY download_ms + config_ms + assets_ms + audio_ms))
                FROM telemetry_perf f JOIN telemetry_sessions s USING (session_id)
                WHERE s.portal = '{name}' AND (s.started_at AT TIME ZONE 'UTC')::date BETWEEN '{days.From}' AND '{days.To}'
                {(country is null ? "" : $" AND country = '{country}'")}{(tier is null ? "" : $" AND device_tier = '{tier}'")}
                """);
            var (assets, total) = (portal.GetProperty("loadMs").GetProperty("assets").GetProperty("p50"), portal.GetProperty("loadMs").GetProperty("total").GetProperty("p95"));
            if (string.IsNullOrEmpty(exact))
            {
                if (assets.ValueKind != JsonValueKind.Null)
                {
                    return $"{name}: assets p50 {assets} reported without any perf rows";
                }

                continue;
            }

            var values = exact.Split(' ').Select(long.Parse).ToArray();
            if (assets.ValueKind != JsonValueKind.Number || !WithinBucket(values[0], assets.GetInt64())
                || total.ValueKind != JsonValueKind.Number || !WithinBucket(values[1], total.GetInt64()))
            {
                return $"{name}: reported assets p50 {assets} and total p95 {total} for true {values[0]} and {values[1]}";
            }
        }

        return null;
    }

    private static (string? Country, string? Tier) Filter(string filter)
    {
        var parts = filter.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        return (parts.GetValueOrDefault("country"), parts.GetValueOrDefault("deviceTier"));
    }
}
