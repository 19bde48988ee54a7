using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PlayMusic.Api.Telemetry;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>Every status code of PROTOCOL §3, and portal attribution, against the real app and database.</summary>
public sealed class SessionApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>, IAsyncLifetime
{
    private readonly TestDatabase _database = fixture.Database;
    private readonly ApiHost _host = fixture.Host;
    private EngineClient _engine = null!;
    private string _token = null!;

    public async Task InitializeAsync()
    {
        _token = (await _host.GuestAsync("Tester")).Token;
        _engine = new EngineClient(_host.Http, _token);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Session_start_is_201_with_a_perf_token_and_is_stored_for_the_token_player()
    {
        var guest = await _host.GuestAsync("Nova");
        var engine = new EngineClient(_host.Http, guest.Token);
        var loadId = Guid.NewGuid();

        using var response = await engine.StartAsync(new
        {
            gameId = "Song_42-x", mode = "runner", loadId, referrer = "https://www.y8.com/games/song", country = "de", deviceTier = "mid", engineVersion = "1.4.2",
        });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var sessionId = Guid.Parse(body.GetProperty("sessionId").GetString()!);
        Assert.Equal("y8", body.GetProperty("portal").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("perfToken").GetString()));
        Assert.Equal($"/api/sessions/{sessionId}", response.Headers.Location?.ToString());
        Assert.Equal($"{guest.PlayerId}|Nova|{loadId}|DE|mid|y8|www.y8.com", await _database.ScalarAsync<string>(
            $"SELECT player_id || '|' || display_name || '|' || load_id || '|' || country || '|' || device_tier || '|' || portal || '|' || referrer_host FROM telemetry_sessions WHERE session_id = '{sessionId}'"));
    }

    [Fact]
    public async Task The_ingest_counter_counts_stored_events_not_repeats_answered_from_the_first()
    {
        var before = IngestedEvents();
        var session = await _engine.StartSessionAsync();
        var perf = new { steps = EngineClient.Steps(100, 200, 300, 400) };
        using (var first = await _engine.PerfAsync(session.SessionId, session.PerfToken, perf))
        using (var again = await _engine.PerfAsync(session.SessionId, session.PerfToken, perf))
        {
            Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.Conflict), (first.StatusCode, again.StatusCode));
        }

        for (var i = 0; i < 2; i++)
        {
            using var end = await _engine.EndAsync(session.SessionId, session.PerfToken, new { score = 10 + i, durationMs = 1000, completed = false });
            Assert.Equal(HttpStatusCode.Accepted, end.StatusCode);
        }

        using var beacon = await _engine.BeaconAsync(new { loadId = Guid.NewGuid(), gameId = "song-1", stage = "assets", elapsedMs = 900 });
        Assert.Equal(HttpStatusCode.NoContent, beacon.StatusCode);

        // A batch is counted just after its requests are answered.
        await Poll.UntilAsync(() => IngestedEvents() >= before + 4, "the beacon is counted");
        Assert.Equal(before + 4, IngestedEvents()); // the session, one perf report, one end, the beacon
    }

    /// <summary>
    /// The ingest counter of this test's host, read in process: <c>/metrics</c> of one host can show the same-named
    /// instrument of another host the test process runs (OpenTelemetry listens to meters by name, process-wide).
    /// </summary>
    private long IngestedEvents()
    {
        var meters = _host.Services.GetRequiredService<IMeterFactory>();
        long total = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "playmusic.analytics.events_ingested" && ReferenceEquals(instrument.Meter.Scope, meters))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => total += value);
        listener.Start();
        listener.RecordObservableInstruments();
        return total;
    }

    [Fact]
    public async Task Session_start_without_a_token_is_401_whatever_the_body()
    {
        using var response = await _host.Http.PostAsJsonAsync("/api/sessions", new { gameId = "g", mode = "runner", loadId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        // The token is judged before the body, as on every other endpoint (PROTOCOL §1): not 415 for a media type.
        using var text = await _host.Http.PostAsync("/api/sessions", new StringContent("{}", System.Text.Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.Unauthorized, text.StatusCode);
        using var player = _host.Client((await _host.GuestAsync()).Token);
        using var textWithToken = await player.PostAsync("/api/sessions", new StringContent("{}", System.Text.Encoding.UTF8, "text/plain"));
        await ProblemAssert.IsAsync(textWithToken, HttpStatusCode.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "body");
    }

    [Theory]
    [InlineData("gameId", "{\"gameId\":\"bad id!\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}")]
    [InlineData("gameId", "{\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}")]
    [InlineData("mode", "{\"gameId\":\"g\",\"mode\":\"golf\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}")]
    [InlineData("loadId", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"not-a-uuid\"}")]
    [InlineData("loadId", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"0f8fad5bd9cb469fa16570867728950e\"}")]
    [InlineData("country", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"country\":\"XX\"}")]
    [InlineData("country", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"country\":\"DEU\"}")]
    [InlineData("deviceTier", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"deviceTier\":\"ultra\"}")]
    [InlineData("engineVersion", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"engineVersion\":\"has space\"}")]
    [InlineData("gameId", "{\"gameId\":\"g1\\n\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}")]
    [InlineData("engineVersion", "{\"gameId\":\"g\",\"mode\":\"runner\",\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"engineVersion\":\"1.0\\n\"}")]
    public async Task Bad_session_start_is_400_naming_the_field(string field, string json)
    {
        using var response = await PostJsonAsync("/api/sessions", json, bearer: (await _host.GuestAsync()).Token);
        await ProblemAssert.IsAsync(response, HttpStatusCode.BadRequest, "INVALID_ARGUMENT", field);
    }

    [Fact]
    public async Task Malformed_json_is_400_not_500()
    {
        using var response = await PostJsonAsync("/api/sessions", "{\"gameId\": 12", bearer: (await _host.GuestAsync()).Token);
        await ProblemAssert.IsAsync(response, HttpStatusCode.BadRequest, "INVALID_JSON");
    }

    [Fact]
    public async Task Perf_is_202_once_then_409_and_is_stored()
    {
        var session = await _engine.StartSessionAsync();

        using var first = await _engine.PerfAsync(session.SessionId, session.PerfToken, new { steps = EngineClient.Steps(120, 30, 800, 250.6), gatewayMs = 40 });
        using var second = await _engine.PerfAsync(session.SessionId, session.PerfToken, new { steps = EngineClient.Steps(1, 1, 1, 1) });

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        await ProblemAssert.IsAsync(second, HttpStatusCode.Conflict, "PERF_ALREADY_REPORTED");
        Assert.Equal("120|30|800|251|40", await _database.ScalarAsync<string>(
            $"SELECT concat_ws('|', download_ms, config_ms, assets_ms, audio_ms, gateway_ms) FROM telemetry_perf WHERE session_id = '{session.SessionId}'"));
    }

    [Fact]
    public async Task Concurrent_perf_reports_for_one_session_store_one_and_conflict_the_rest()
    {
        var session = await _engine.StartSessionAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            _engine.PerfAsync(session.SessionId, session.PerfToken, new { steps = EngineClient.Steps(i, i, i, i) })));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Accepted));
        Assert.Equal(7, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        Assert.Equal(1L, await _database.ScalarAsync<long>($"SELECT count(*) FROM telemetry_perf WHERE session_id = '{session.SessionId}'"));
    }

    [Fact]
    public async Task Perf_and_end_with_a_missing_or_foreign_token_are_403_and_store_nothing()
    {
        var mine = await _engine.StartSessionAsync();
        var other = await new EngineClient(_host.Http, (await _host.GuestAsync()).Token).StartSessionAsync();
        var steps = new { steps = EngineClient.Steps(1, 2, 3, 4) };

        await ProblemAssert.IsAsync(await _engine.PerfAsync(mine.SessionId, null, steps), HttpStatusCode.Forbidden, "FORBIDDEN");
        await ProblemAssert.IsAsync(await _engine.PerfAsync(mine.SessionId, other.PerfToken, steps), HttpStatusCode.Forbidden, "FORBIDDEN");
        await ProblemAssert.IsAsync(await _engine.PerfAsync(mine.SessionId, "garbage%%", steps), HttpStatusCode.Forbidden, "FORBIDDEN");
        await ProblemAssert.IsAsync(await _engine.EndAsync(mine.SessionId, other.PerfToken, new { score = 1, durationMs = 1, completed = false }),
            HttpStatusCode.Forbidden, "FORBIDDEN");

        Assert.Equal(0L, await _database.ScalarAsync<long>($"SELECT (SELECT count(*) FROM telemetry_perf WHERE session_id = '{mine.SessionId}')"
            + $" + (SELECT count(*) FROM telemetry_session_ends WHERE session_id = '{mine.SessionId}')"));
    }

    [Fact]
    public async Task Perf_and_end_for_an_unknown_session_are_404_whatever_the_token()
    {
        var unknown = Guid.NewGuid();
        var signed = _host.Services.GetRequiredService<PerfTokens>().For(unknown);
        var foreign = (await _engine.StartSessionAsync()).PerfToken;

        foreach (var token in new[] { signed, foreign, null })
        {
            await ProblemAssert.IsAsync(await _engine.PerfAsync(unknown, token, new { steps = EngineClient.Steps(1, 2, 3, 4) }), HttpStatusCode.NotFound, "NOT_FOUND");
            await ProblemAssert.IsAsync(await _engine.EndAsync(unknown, token, new { score = 1, durationMs = 1, completed = false }), HttpStatusCode.NotFound, "NOT_FOUND");
        }
    }

    [Theory]
    [InlineData("steps.download", "{\"steps\":{\"download\":-1,\"config\":1,\"assets\":1,\"audio\":1}}")]
    [InlineData("steps.assets", "{\"steps\":{\"download\":1,\"config\":1,\"assets\":600001,\"audio\":1}}")]
    [InlineData("steps.audio", "{\"steps\":{\"download\":1,\"config\":1,\"assets\":1}}")]
    [InlineData("steps.shaders", "{\"steps\":{\"download\":1,\"config\":1,\"assets\":1,\"audio\":1,\"shaders\":5}}")]
    [InlineData("steps", "{\"gatewayMs\":5}")]
    [InlineData("gatewayMs", "{\"steps\":{\"download\":1,\"config\":1,\"assets\":1,\"audio\":1},\"gatewayMs\":-3}")]
    [InlineData("steps.config", "{\"steps\":{\"download\":1,\"config\":\"fast\",\"assets\":1,\"audio\":1}}", "INVALID_JSON")]
    [InlineData("steps.download", "{\"steps\":{\"download\":\"1\",\"config\":1,\"assets\":1,\"audio\":1}}", "INVALID_JSON")]
    [InlineData("gatewayMs", "{\"steps\":{\"download\":1,\"config\":1,\"assets\":1,\"audio\":1},\"gatewayMs\":\"7\"}", "INVALID_JSON")]
    public async Task Bad_perf_is_400_naming_the_field(string field, string json, string code = "INVALID_ARGUMENT")
    {
        var session = await _engine.StartSessionAsync();
        using var response = await PostJsonAsync($"/api/sessions/{session.SessionId}/perf", json, perfToken: session.PerfToken);

        // A value of the wrong JSON type (a number as a string too) fails binding: INVALID_JSON.
        await ProblemAssert.IsAsync(response, HttpStatusCode.BadRequest, code, field);
    }

    [Fact]
    public async Task Malformed_session_id_is_400()
    {
        using var response = await PostJsonAsync("/api/sessions/12345/perf", "{}", perfToken: "x");
        await ProblemAssert.IsAsync(response, HttpStatusCode.BadRequest, "INVALID_ARGUMENT", "sessionId");
    }

    [Fact]
    public async Task End_is_202_and_idempotent_keeping_the_first_end()
    {
        var session = await _engine.StartSessionAsync();

        using var first = await _engine.EndAsync(session.SessionId, session.PerfToken, new { score = 1200, durationMs = 90500, completed = false });
        using var again = await _engine.EndAsync(session.SessionId, session.PerfToken, new { score = 1200, durationMs = 90500, completed = false });
        using var different = await _engine.EndAsync(session.SessionId, session.PerfToken, new { score = 99999, durationMs = 1, completed = false });

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, different.StatusCode);
        Assert.Equal("1200|90500|f", await _database.ScalarAsync<string>(
            $"SELECT concat_ws('|', score, duration_ms, completed) FROM telemetry_session_ends WHERE session_id = '{session.SessionId}'"));
    }

    [Fact]
    public async Task Completed_end_puts_the_score_on_the_game_leaderboards_once()
    {
        var guest = await _host.GuestAsync("Scorer");
        var engine = new EngineClient(_host.Http, guest.Token);
        var gameId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var session = await engine.StartSessionAsync(gameId, portal: "y8");

        using var response = await engine.EndAsync(session.SessionId, session.PerfToken, new { score = 4200, durationMs = 60000, completed = true });
        using var retry = await engine.EndAsync(session.SessionId, session.PerfToken, new { score = 4200, durationMs = 60000, completed = true });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        using var player = _host.Client(guest.Token);
        foreach (var scope in new[] { "global", "portal:y8" })
        {
            var board = await player.GetFromJsonAsync<JsonElement>($"/api/games/{gameId}/leaderboard?scope={scope}");
            var entry = Assert.Single(board.GetProperty("entries").EnumerateArray());
            Assert.Equal(guest.PlayerId, entry.GetProperty("playerId").GetString());
            Assert.Equal(4200, entry.GetProperty("score").GetInt64());
            Assert.Equal(1, entry.GetProperty("rank").GetInt32());
        }
    }

    [Fact]
    public async Task A_completed_end_whose_score_never_reached_the_boards_is_handed_over_by_the_sweep()
    {
        var guest = await _host.GuestAsync("Swept");
        var gameId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var session = await new EngineClient(_host.Http, guest.Token).StartSessionAsync(gameId, portal: "y8");
        // What a process killed between the end's commit and the hand-over of its score leaves (or an engine that
        // never sent the end again after 503 SCORE_NOT_RECORDED): the end is stored, the boards never heard of it.
        await _database.ScalarAsync<int>($"""
            UPDATE telemetry_sessions SET started_at = now() - interval '5 minutes' WHERE session_id = '{session.SessionId}';
            INSERT INTO telemetry_session_ends (session_id, score, duration_ms, completed, ended_at)
            VALUES ('{session.SessionId}', 4200, 60000, true, now() - interval '3 minutes') RETURNING 1
            """);
        var sweep = _host.Services.GetRequiredService<UnrecordedRunsSweep>();
        using var player = _host.Client(guest.Token);
        Assert.Empty((await player.GetFromJsonAsync<JsonElement>($"/api/games/{gameId}/leaderboard")).GetProperty("entries").EnumerateArray());

        // The host's own once-a-minute sweep may be the one that takes it (this one then finds the lock held or
        // nothing left): what counts is that the boards get the run.
        await sweep.SweepOnceAsync();
        foreach (var scope in new[] { "global", "portal:y8" })
        {
            JsonElement[] entries = [];
            await Poll.UntilAsync(async () => (entries = [.. (await player.GetFromJsonAsync<JsonElement>(
                $"/api/games/{gameId}/leaderboard?scope={scope}")).GetProperty("entries").EnumerateArray()]).Length > 0, $"the {scope} board has the run");
            var entry = Assert.Single(entries);
            Assert.Equal((guest.PlayerId, 4200L), (entry.GetProperty("playerId").GetString(), entry.GetProperty("score").GetInt64()));
        }

        // Recorded now: the next sweep leaves it, and it counts once.
        Assert.Equal(0, await sweep.SweepOnceAsync());
        Assert.Equal("accepted", await _database.ScalarAsync<string>($"SELECT verdict FROM competition_runs WHERE run_id = '{session.SessionId}'"));
    }

    /// <summary>
    /// The cap is runner's 5000 points per second of the run, and a run lasts no longer than its session has:
    /// 10 s allow at most 55,000; an hour claimed would allow 18,005,000, but the session is seconds old.
    /// </summary>
    [Theory]
    [InlineData(10_000)]
    [InlineData(3_600_000)]
    public async Task Completed_end_with_an_implausible_score_is_stored_but_not_ranked(long durationMs)
    {
        var guest = await _host.GuestAsync("Cheater");
        var engine = new EngineClient(_host.Http, guest.Token);
        var gameId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var session = await engine.StartSessionAsync(gameId);

        using var response = await engine.EndAsync(session.SessionId, session.PerfToken, new { score = 900_000, durationMs, completed = true });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal($"900000|{durationMs}|t", await _database.ScalarAsync<string>(
            $"SELECT concat_ws('|', score, duration_ms, completed) FROM telemetry_session_ends WHERE session_id = '{session.SessionId}'"));
        using var player = _host.Client(guest.Token);
        var board = await player.GetFromJsonAsync<JsonElement>($"/api/games/{gameId}/leaderboard?scope=global");
        Assert.Empty(board.GetProperty("entries").EnumerateArray());
    }

    [Theory]
    [InlineData("score", "{\"durationMs\":1,\"completed\":false}")]
    [InlineData("score", "{\"score\":-5,\"durationMs\":1,\"completed\":false}")]
    [InlineData("durationMs", "{\"score\":5,\"durationMs\":-1,\"completed\":false}")]
    [InlineData("completed", "{\"score\":5,\"durationMs\":1}")]
    [InlineData("score", "{\"score\":\"100\",\"durationMs\":1,\"completed\":false}", "INVALID_JSON")]
    public async Task Bad_end_is_400_naming_the_field(string field, string json, string code = "INVALID_ARGUMENT")
    {
        var session = await _engine.StartSessionAsync();
        using var response = await PostJsonAsync($"/api/sessions/{session.SessionId}/end", json, perfToken: session.PerfToken);
        await ProblemAssert.IsAsync(response, HttpStatusCode.BadRequest, code, field);
        Assert.Equal(0L, await _database.ScalarAsync<long>($"SELECT count(*) FROM telemetry_session_ends WHERE session_id = '{session.SessionId}'"));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/json")]
    public async Task Dropout_beacon_is_204_without_auth_and_is_stored(string mediaType)
    {
        var loadId = Guid.NewGuid();

        using var response = await _engine.BeaconAsync(new { loadId, gameId = "g1", referrer = "https://games.crazygames.com/en/g1", stage = "assets", elapsedMs = 4200.4 }, mediaType);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("g1|crazygames|assets|4200", await _database.ScalarAsync<string>(
            $"SELECT concat_ws('|', game_id, portal, stage, elapsed_ms) FROM telemetry_dropouts WHERE load_id = '{loadId}'"));
    }

    [Theory]
    [InlineData("stage", "{\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"gameId\":\"g\",\"stage\":\"shaders\",\"elapsedMs\":5}")]
    [InlineData("elapsedMs", "{\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"gameId\":\"g\",\"stage\":\"audio\",\"elapsedMs\":-5}")]
    [InlineData("elapsedMs", "{\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"gameId\":\"g\",\"stage\":\"audio\",\"elapsedMs\":1e12}")]
    [InlineData("loadId", "{\"loadId\":\"nope\",\"gameId\":\"g\",\"stage\":\"audio\",\"elapsedMs\":5}")]
    [InlineData("gameId", "{\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"gameId\":\"\",\"stage\":\"audio\",\"elapsedMs\":5}")]
    [InlineData("body", "not json", "INVALID_JSON")]
    [InlineData("gameId", "{\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"gameId\":\"g1\\n\",\"stage\":\"audio\",\"elapsedMs\":5}")]
    [InlineData("elapsedMs", "{\"loadId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"gameId\":\"g\",\"stage\":\"audio\",\"elapsedMs\":\"12\"}", "INVALID_JSON")]
    public async Task Bad_beacon_is_400_naming_the_field(string field, string body, string code = "INVALID_ARGUMENT")
    {
        using var response = await _host.Http.PostAsync("/api/beacon/dropout", new StringContent(body, Encoding.UTF8, "text/plain"));
        await ProblemAssert.IsAsync(response, HttpStatusCode.BadRequest, code, field);
    }

    [Fact]
    public async Task Beacon_with_a_byte_order_mark_is_stored()
    {
        var loadId = Guid.NewGuid();
        var body = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes($"{{\"loadId\":\"{loadId}\",\"gameId\":\"g1\",\"stage\":\"audio\",\"elapsedMs\":5}}")).ToArray();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("text/plain") { CharSet = "utf-8" };

        using var response = await _host.Http.PostAsync("/api/beacon/dropout", content);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(1L, await _database.ScalarAsync<long>($"SELECT count(*) FROM telemetry_dropouts WHERE load_id = '{loadId}'"));
    }

    [Fact]
    public async Task Engine_bodies_are_read_in_the_charset_they_declare_and_an_unknown_one_is_415()
    {
        var session = await _engine.StartSessionAsync();
        using (var perf = new HttpRequestMessage(HttpMethod.Post, $"/api/sessions/{session.SessionId}/perf")
        {
            Content = new ByteArrayContent(Encoding.Unicode.GetBytes("{\"steps\":{\"download\":1,\"config\":2,\"assets\":3,\"audio\":4}}")),
        })
        {
            perf.Content.Headers.ContentType = new("application/json") { CharSet = "utf-16" };
            perf.Headers.Add("X-Perf-Token", session.PerfToken);
            Assert.Equal(HttpStatusCode.Accepted, (await _host.Http.SendAsync(perf)).StatusCode);
        }

        var loadId = Guid.NewGuid();
        using var latin1 = new ByteArrayContent(Encoding.Latin1.GetBytes(
            $"{{\"loadId\":\"{loadId}\",\"gameId\":\"g1\",\"referrer\":\"https://b\u00fccher.y8.com/\",\"stage\":\"audio\",\"elapsedMs\":5}}"));
        latin1.Headers.ContentType = new("text/plain") { CharSet = "iso-8859-1" };
        Assert.Equal(HttpStatusCode.NoContent, (await _host.Http.PostAsync("/api/beacon/dropout", latin1)).StatusCode);
        Assert.Equal("y8", await _database.ScalarAsync<string>($"SELECT portal FROM telemetry_dropouts WHERE load_id = '{loadId}'"));

        using var bogus = new StringContent($"{{\"loadId\":\"{Guid.NewGuid()}\",\"gameId\":\"g1\",\"stage\":\"audio\",\"elapsedMs\":5}}");
        bogus.Headers.ContentType = new("text/plain") { CharSet = "bogus" };
        await ProblemAssert.IsAsync(await _host.Http.PostAsync("/api/beacon/dropout", bogus), HttpStatusCode.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type");

        // The perf token is judged before the body, whatever its charset.
        using var foreign = new StringContent("{}");
        foreign.Headers.ContentType = new("application/json") { CharSet = "bogus" };
        await ProblemAssert.IsAsync(await _host.Http.PostAsync($"/api/sessions/{session.SessionId}/end", foreign), HttpStatusCode.Forbidden, "FORBIDDEN");
    }

    [Theory]
    [InlineData("/api/beacon/dropout", true)]
    [InlineData("/api/beacon/dropout", false)]
    [InlineData("/api/sessions/{0}/perf", false)]
    [InlineData("/api/sessions/{0}/end", false)]
    [InlineData("/api/sessions", false)]
    public async Task A_body_over_8_KiB_is_413_whether_or_not_it_says_its_length(string path, bool withLength)
    {
        var session = await _engine.StartSessionAsync();
        var body = Encoding.UTF8.GetBytes($"{{\"gameId\":\"g1\",\"padding\":\"{new string('x', 16 * 1024)}\"}}");
        using var request = new HttpRequestMessage(HttpMethod.Post, string.Format(CultureInfo.InvariantCulture, path, session.SessionId))
        {
            // Without a length the body is chunked, as a client streaming it would send it: nothing to check up front.
            Content = withLength ? new ByteArrayContent(body) : new StreamContent(new MemoryStream(body)),
        };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add("X-Perf-Token", session.PerfToken);
        request.Headers.Authorization = new("Bearer", _token);

        using var response = await _host.Http.SendAsync(request);

        await ProblemAssert.IsAsync(response, HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE");
    }

    [Fact]
    public async Task Beacon_of_another_media_type_is_415()
    {
        using var response = await _host.Http.PostAsync("/api/beacon/dropout", new StringContent("<x/>", Encoding.UTF8, "application/xml"));
        await ProblemAssert.IsAsync(response, HttpStatusCode.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE");
    }

    [Theory]
    [InlineData("y8", null, "y8")]
    [InlineData("Y8", "https://www.crazygames.com/game/song", "y8")]
    [InlineData("no-such-portal", "https://www.y8.com/games/song", "y8")]
    [InlineData(null, "https://html5.gamepix.com/play/song", "gamepix")]
    [InlineData(null, "https://playgama.com/game/song", "playgama")]
    [InlineData(null, "https://1234567890123456.discordsays.com/.proxy/index.html", "discord")]
    [InlineData(null, "https://discord.com/channels/1/2", "discord")]
    [InlineData(null, "https://www.crazygames.com/game/song", "crazygames")]
    [InlineData(null, "https://playmusic.gg/play/song", "playmusic")]
    [InlineData(null, "y8.com", "y8")]
    [InlineData(null, "https://evil-y8.com/", "unknown")]
    [InlineData(null, "https://y8.com.evil.example/", "unknown")]
    [InlineData(null, "javascript:alert(1)", "unknown")]
    [InlineData(null, "not a url", "unknown")]
    [InlineData(null, "https://a\u05D0.example/", "unknown")]
    [InlineData(null, "https://www.y8.\u0441\u043E\u043C/", "unknown")]
    [InlineData(null, null, "unknown")]
    public async Task Portal_is_attributed_from_the_registry(string? portal, string? referrer, string expected)
    {
        var session = await _engine.StartSessionAsync(portal: portal, referrer: referrer);

        Assert.Equal(expected, session.Portal);
        Assert.Equal(expected, await _database.ScalarAsync<string>($"SELECT portal FROM telemetry_sessions WHERE session_id = '{session.SessionId}'"));
    }

    [Fact]
    public async Task Portal_registry_is_data_a_new_host_needs_no_code()
    {
        await _database.ScalarAsync<int>("INSERT INTO telemetry_portal_hosts (host_suffix, portal) VALUES ('y8games.example', 'y8') RETURNING 1");
        var directory = await new PortalRegistry(
            _host.Services.GetRequiredService<NpgsqlDataSource>(), TimeProvider.System, NullLogger<PortalRegistry>.Instance).GetAsync();

        Assert.Equal("y8", directory.Resolve(null, PortalDirectory.HostOf("https://cdn.y8games.example/x")));
    }

    [Fact]
    public async Task Perf_and_end_check_the_token_before_the_body()
    {
        var mine = await _engine.StartSessionAsync();
        var unknown = Guid.NewGuid();
        Task<HttpResponseMessage> Post(Guid session, string step, string body, string mediaType, string? token)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/api/sessions/{session}/{step}") { Content = new StringContent(body, Encoding.UTF8, mediaType) };
            if (token is not null)
            {
                request.Headers.Add("X-Perf-Token", token);
            }

            return _host.Http.SendAsync(request);
        }

        foreach (var step in new[] { "perf", "end" })
        {
            // Whatever the body, someone without this session's token learns only 403 (or 404 for no session).
            await ProblemAssert.IsAsync(await Post(mine.SessionId, step, "{not json", "application/json", null), HttpStatusCode.Forbidden, "FORBIDDEN");
            await ProblemAssert.IsAsync(await Post(mine.SessionId, step, "<x/>", "text/xml", "wrong"), HttpStatusCode.Forbidden, "FORBIDDEN");
            await ProblemAssert.IsAsync(await Post(unknown, step, "{not json", "application/json", null), HttpStatusCode.NotFound, "NOT_FOUND");

            // With the token, the body's own errors.
            await ProblemAssert.IsAsync(await Post(mine.SessionId, step, "{not json", "application/json", mine.PerfToken), HttpStatusCode.BadRequest, "INVALID_JSON", "body");
            await ProblemAssert.IsAsync(await Post(mine.SessionId, step, "<x/>", "text/xml", mine.PerfToken), HttpStatusCode.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE");
        }

        // A UTF-8 byte order mark before the JSON is skipped.
        using var withBom = await Post(mine.SessionId, "end", "\uFEFF{\"score\":5,\"durationMs\":1,\"completed\":false}", "application/json", mine.PerfToken);
        Assert.Equal(HttpStatusCode.Accepted, withBom.StatusCode);
    }

    /// <summary>Raw JSON text, so tests can send what a typed client never would.</summary>
    private Task<HttpResponseMessage> PostJsonAsync(string path, string json, string? bearer = null, string? perfToken = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (bearer is not null)
        {
            request.Headers.Authorization = new("Bearer", bearer);
        }

        if (perfToken is not null)
        {
            request.Headers.Add("X-Perf-Token", perfToken);
        }

        return _host.Http.SendAsync(request);
    }
}
