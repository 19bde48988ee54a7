using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

public sealed class TournamentTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    public const long Day = 24 * 3_600_000L;

    private ApiHost Host => fixture.Host;

    [Fact]
    public async Task A_tournament_goes_live_and_ends_on_time_with_no_calls_in_between()
    {
        // A past startsAt is accepted (and is "live"), so the lead must outlast a slow first POST on a loaded machine.
        var now = Competition.Now;
        var created = await Host.CreateTournamentAsync(new
        {
            title = "Sprint", gameId = Competition.NewGameId(), mode = "runner", startsAt = now + 5_000, endsAt = now + 9_000,
        });
        Assert.Equal("upcoming", created.Status);

        // Watch the durable table only: nobody calls the grain or the API until the tournament has ended.
        // The deadline bounds lateness; a minute-late reminder-only schedule would still miss it.
        var seen = new Dictionary<string, long>();
        await using var dataSource = fixture.Database.CreateDataSource();
        while (!seen.ContainsKey("ended") && Competition.Now < created.EndsAt + 15_000)
        {
            await using var command = dataSource.CreateCommand($"SELECT status FROM tournaments WHERE id = '{created.Id}'");
            var status = (string)(await command.ExecuteScalarAsync())!;
            seen.TryAdd(status, Competition.Now);
            await Task.Delay(20);
        }

        // Not early: each time is taken after the read that first saw the status, so it is never before the change.
        Assert.True(seen.TryGetValue("live", out var liveSeen), "the tournament was never seen live");
        Assert.True(seen.TryGetValue("ended", out var endedSeen), "the tournament did not end within 15 s of endsAt");
        Assert.True(liveSeen >= created.StartsAt, $"live at {liveSeen}, before startsAt {created.StartsAt}");
        Assert.True(endedSeen >= created.EndsAt, $"ended at {endedSeen}, before endsAt {created.EndsAt}");

        using var client = Host.Client((await Host.GuestAsync()).Token);
        var join = await (await client.PostAsync($"/api/tournaments/{created.Id}/join", null)).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("TOURNAMENT_CLOSED", join.Code);
        var standings = await client.BoardAsync($"/api/tournaments/{created.Id}/standings");
        Assert.Equal("ended", standings.Status);
        Assert.Equal(created.EndsAt, standings.EndsAt);
    }

    [Fact]
    public async Task A_run_ending_one_millisecond_after_endsAt_does_not_count()
    {
        var game = Competition.NewGameId();
        var tournament = await Host.CreateTournamentAsync(new
        {
            title = "Window", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000,
        });
        var (late, onTime) = (await Host.GuestAsync("Late"), await Host.GuestAsync("OnTime"));
        await JoinAsync(tournament, late);
        await JoinAsync(tournament, onTime);

        var lateResult = await Host.RecordAsync(game, late, 50_000, tournament.EndsAt + 1);
        var onTimeResult = await Host.RecordAsync(game, onTime, 10_000, tournament.EndsAt - 1);

        Assert.Equal(RunVerdict.Accepted, lateResult.Verdict); // it still counts on the game's own boards
        Assert.Equal(TournamentRunVerdict.OutsideWindow, Assert.Single(lateResult.Tournaments).Verdict);
        Assert.Equal(TournamentRunVerdict.Counted, Assert.Single(onTimeResult.Tournaments).Verdict);

        using var client = Host.Client(late.Token);
        // The query as PROTOCOL §4 spells it: the empty limit is the default.
        var standings = await client.BoardAsync($"/api/tournaments/{tournament.Id}/standings?limit=&around=me");
        Assert.Equal([onTime.PlayerId], standings.Entries.Select(e => e.PlayerId));
        Assert.Null(standings.Me);
        Assert.Equal("live", standings.Status);
        Assert.Equal($"tournament:{tournament.Id}", standings.Scope);
    }

    [Fact]
    public async Task Runs_beyond_maxAttempts_do_not_count()
    {
        var game = Competition.NewGameId();
        var tournament = await Host.CreateTournamentAsync(new
        {
            title = "Two tries", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000, maxAttempts = 2,
        });
        var player = await Host.GuestAsync("Tries");
        await JoinAsync(tournament, player);
        Assert.Equal(2, tournament.MaxAttempts);

        var verdicts = new List<TournamentRunVerdict>();
        foreach (var score in new[] { 100L, 300, 500 })
        {
            verdicts.Add(Assert.Single((await Host.RecordAsync(game, player, score, Competition.Now)).Tournaments).Verdict);
        }

        Assert.Equal([TournamentRunVerdict.Counted, TournamentRunVerdict.Counted, TournamentRunVerdict.AttemptsExhausted], verdicts);
        using var client = Host.Client(player.Token);
        var standings = await client.BoardAsync($"/api/tournaments/{tournament.Id}/standings");
        Assert.Equal(new MeBody(1, 300), standings.Me);
        var global = await client.BoardAsync($"/api/games/{game}/leaderboard");
        Assert.Equal(new MeBody(1, 500), global.Me); // the game's board is not capped

        // Runs of one player arriving together interleave in the grain: still exactly maxAttempts count.
        var rival = await Host.GuestAsync("Rush");
        await JoinAsync(tournament, rival);
        var together = await Task.WhenAll(Enumerable.Range(1, 6).Select(i => Host.RecordAsync(game, rival, i * 10, Competition.Now)));
        Assert.Equal(2, together.Count(r => Assert.Single(r.Tournaments).Verdict == TournamentRunVerdict.Counted));
        Assert.Equal(4, together.Count(r => r.Tournaments[0].Verdict == TournamentRunVerdict.AttemptsExhausted));
        Assert.Equal(2L, await fixture.Database.ScalarAsync<long>(
            $"SELECT count(*) FROM tournament_attempts WHERE tournament_id = '{tournament.Id}' AND player_id = '{rival.PlayerId}'"));
    }

    [Fact]
    public async Task A_portal_scoped_tournament_admits_and_counts_only_that_portal()
    {
        var game = Competition.NewGameId();
        var tournament = await Host.CreateTournamentAsync(new
        {
            title = "Y8 cup", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000, portal = "y8", prize = "a hat",
        });
        var player = await Host.GuestAsync("Channel");
        using var client = Host.Client(player.Token);

        Assert.Equal("WRONG_PORTAL", (await (await client.PostAsync($"/api/tournaments/{tournament.Id}/join", null)).ProblemAsync(HttpStatusCode.Forbidden)).Code);
        Assert.Equal("WRONG_PORTAL", (await (await client.PostAsync($"/api/tournaments/{tournament.Id}/join?portal=crazygames", null)).ProblemAsync(HttpStatusCode.Forbidden)).Code);
        Assert.StartsWith("portal:", (await (await client.PostAsync($"/api/tournaments/{tournament.Id}/join?portal=%00%01", null)).ProblemAsync(HttpStatusCode.BadRequest)).Detail);
        var joined = await JoinAsync(tournament, player, "y8");
        Assert.Equal(1, joined.Entrants);
        Assert.Equal(1, (await JoinAsync(tournament, player, "y8")).Entrants); // idempotent

        // Without ?portal= (the join as PROTOCOL §4 writes it) the portal is that of the player's latest session.
        var (fromY8, fromCrazy) = (await Host.GuestAsync("Y8 player"), await Host.GuestAsync("Crazy player"));
        using var y8Client = Host.Client(fromY8.Token);
        using var crazyClient = Host.Client(fromCrazy.Token);
        await StartSessionAsync(y8Client, game, "https://www.y8.com/games/" + game);
        await StartSessionAsync(crazyClient, game, "https://www.crazygames.com/game/" + game);
        using (var y8Join = await y8Client.PostAsync($"/api/tournaments/{tournament.Id}/join", null))
        {
            Assert.Equal(HttpStatusCode.OK, y8Join.StatusCode);
            Assert.Equal(2, (await y8Join.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web))!.Entrants);
        }

        Assert.Equal("WRONG_PORTAL", (await (await crazyClient.PostAsync($"/api/tournaments/{tournament.Id}/join", null)).ProblemAsync(HttpStatusCode.Forbidden)).Code);

        var elsewhere = await Host.RecordAsync(game, player, 9_000, Competition.Now, portal: "crazygames");
        var home = await Host.RecordAsync(game, player, 1_000, Competition.Now, portal: "y8");
        Assert.Equal(TournamentRunVerdict.WrongPortal, Assert.Single(elsewhere.Tournaments).Verdict);
        Assert.Equal(TournamentRunVerdict.Counted, Assert.Single(home.Tournaments).Verdict);
        Assert.Equal(new MeBody(1, 1_000), (await client.BoardAsync($"/api/tournaments/{tournament.Id}/standings")).Me);

        var forY8 = await client.GetFromJsonAsync<List<TournamentBody>>("/api/tournaments?status=live&portal=y8", JsonSerializerOptions.Web);
        var forCrazy = await client.GetFromJsonAsync<List<TournamentBody>>("/api/tournaments?status=live&portal=crazygames", JsonSerializerOptions.Web);
        var upcoming = await client.GetFromJsonAsync<List<TournamentBody>>("/api/tournaments?status=upcoming", JsonSerializerOptions.Web);
        var listed = Assert.Single(forY8!, t => t.Id == tournament.Id);
        Assert.Equal(("y8", "a hat", 2, "live"), (listed.Portal, listed.Prize, listed.Entrants, listed.Status));
        Assert.DoesNotContain(forCrazy!, t => t.Id == tournament.Id);
        Assert.DoesNotContain(upcoming!, t => t.Id == tournament.Id);
    }

    [Fact]
    public async Task Edits_only_before_the_start_and_cancel_closes_the_tournament()
    {
        var game = Competition.NewGameId();
        var later = await Host.CreateTournamentAsync(new
        {
            // 60 days ahead: longer than a .NET timer can wait in one go.
            title = "Later", gameId = game, mode = "runner", startsAt = Competition.Now + 60 * Day, endsAt = Competition.Now + 61 * Day,
        });
        var started = await Host.CreateTournamentAsync(new
        {
            title = "Started", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000,
        });
        using var admin = Host.Client(Host.AdminToken());

        using (var patched = await admin.PatchAsJsonAsync($"/api/admin/tournaments/{later.Id}", new { title = "Later, renamed", maxAttempts = 3 }))
        {
            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
            var body = (await patched.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web))!;
            Assert.Equal(("Later, renamed", 3, later.StartsAt), (body.Title, body.MaxAttempts, body.StartsAt));
        }

        // An upcoming tournament cannot start retroactively; "start now" a moment late starts it now.
        var backdated = await (await admin.PatchAsJsonAsync($"/api/admin/tournaments/{later.Id}", new { startsAt = Competition.Now - 60_000 }))
            .ProblemAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith("startsAt:", backdated.Detail);
        var upcoming = await Host.CreateTournamentAsync(new
        {
            title = "Upcoming", gameId = game, mode = "runner", startsAt = Competition.Now + Day, endsAt = Competition.Now + 2 * Day,
        });
        var startNowSentAt = Competition.Now - 1_000;
        using (var startedNow = await admin.PatchAsJsonAsync($"/api/admin/tournaments/{upcoming.Id}", new { startsAt = startNowSentAt }))
        {
            Assert.Equal(HttpStatusCode.OK, startedNow.StatusCode);
            var body = (await startedNow.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web))!;
            Assert.True(body.StartsAt > startNowSentAt, $"startsAt {body.StartsAt} was stored as sent, {startNowSentAt}");
            Assert.Equal("live", body.Status);
        }

        var tooLate = await (await admin.PatchAsJsonAsync($"/api/admin/tournaments/{started.Id}", new { title = "x" })).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("TOURNAMENT_STARTED", tooLate.Code);
        // Started is started, whatever the body: the state is judged before the fields.
        var tooLateAndWrong = await (await admin.PatchAsJsonAsync($"/api/admin/tournaments/{started.Id}", new { mode = "no-such-mode" })).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("TOURNAMENT_STARTED", tooLateAndWrong.Code);

        // Ids are uuids in their 8-4-4-4-12 form: another spelling of the same uuid names no other tournament.
        var braced = await (await admin.DeleteAsync($"/api/admin/tournaments/{{{later.Id}}}")).ProblemAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith("id:", braced.Detail);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/tournaments/{Guid.Parse(later.Id):N}")).StatusCode);

        using (var cancelled = await admin.DeleteAsync($"/api/admin/tournaments/{later.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
            Assert.Equal("cancelled", (await cancelled.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web))!.Status);
        }

        Assert.Equal("cancelled", await fixture.Database.ScalarAsync<string>($"SELECT status FROM tournaments WHERE id = '{later.Id}'"));
        using var player = Host.Client((await Host.GuestAsync()).Token);
        Assert.Equal("TOURNAMENT_CLOSED", (await (await player.PostAsync($"/api/tournaments/{later.Id}/join", null)).ProblemAsync(HttpStatusCode.Conflict)).Code);
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PatchAsJsonAsync($"/api/admin/tournaments/{later.Id}", new { title = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await player.GetAsync($"/api/tournaments/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal("Started", (await player.GetFromJsonAsync<TournamentBody>($"/api/tournaments/{started.Id}", JsonSerializerOptions.Web))!.Title);
    }

    [Fact]
    public async Task Admin_routes_are_401_without_a_token_and_403_for_players()
    {
        var body = new { title = "T", gameId = "g1", mode = "runner", startsAt = Competition.Now + 60_000, endsAt = Competition.Now + 120_000 };
        var id = Guid.NewGuid();
        using var player = Host.Client((await Host.GuestAsync()).Token);

        Assert.Equal(HttpStatusCode.Unauthorized, (await Host.Http.PostAsJsonAsync("/api/admin/tournaments", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Host.Http.PatchAsJsonAsync($"/api/admin/tournaments/{id}", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Host.Http.DeleteAsync($"/api/admin/tournaments/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await player.PostAsJsonAsync("/api/admin/tournaments", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await player.PatchAsJsonAsync($"/api/admin/tournaments/{id}", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await player.DeleteAsync($"/api/admin/tournaments/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Host.Http.GetAsync("/api/tournaments")).StatusCode);
        Assert.Equal(0L, await fixture.Database.ScalarAsync<long>("SELECT count(*) FROM tournaments WHERE title = 'T'"));

        // All of /api/admin/** (PROTOCOL §1), also a method or a path no endpoint serves; an admin then gets 405/404.
        using var admin = Host.Client(Host.AdminToken());
        foreach (var (method, path, forAdmin) in new[]
        {
            (HttpMethod.Get, "/api/admin/tournaments", HttpStatusCode.MethodNotAllowed),
            (HttpMethod.Get, "/api/admin/no-such-thing", HttpStatusCode.NotFound),
            (HttpMethod.Options, "/api/admin/tournaments", HttpStatusCode.MethodNotAllowed), // no CORS preflight: gated too
        })
        {
            var unauthorized = await (await Host.Http.SendAsync(new HttpRequestMessage(method, path))).ProblemAsync(HttpStatusCode.Unauthorized);
            Assert.Equal("UNAUTHORIZED", unauthorized.Code);
            Assert.Equal("FORBIDDEN", (await (await player.SendAsync(new HttpRequestMessage(method, path))).ProblemAsync(HttpStatusCode.Forbidden)).Code);
            Assert.Equal(forAdmin, (await admin.SendAsync(new HttpRequestMessage(method, path))).StatusCode);
        }
    }

    [Theory]
    [InlineData("endsAt", "g1", "runner", 60_000, 60_000)]
    [InlineData("endsAt", "g1", "runner", 60_000, 60_000 + 91L * 24 * 3_600_000)]
    [InlineData("gameId", "bad id!", "runner", 60_000, 120_000)]
    [InlineData("mode", "g1", "no-such-mode", 60_000, 120_000)]
    [InlineData("title", "g1", "runner", 60_000, 120_000, "")]
    [InlineData("startsAt", "g1", "runner", 400 * Day, 401 * Day)]
    public async Task Invalid_tournaments_are_400_naming_the_field(string field, string gameId, string mode, long startsIn, long endsIn, string title = "T")
    {
        using var admin = Host.Client(Host.AdminToken());
        var now = Competition.Now;
        var response = await admin.PostAsJsonAsync("/api/admin/tournaments", new { title, gameId, mode, startsAt = now + startsIn, endsAt = now + endsIn });
        var problem = await response.ProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal("INVALID_ARGUMENT", problem.Code);
        Assert.StartsWith(field, problem.Detail);
    }

    [Fact]
    public async Task Runs_of_another_mode_do_not_count()
    {
        var game = Competition.NewGameId();
        var tournament = await Host.CreateTournamentAsync(new
        {
            title = "Runner cup", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000,
        });
        var player = await Host.GuestAsync("Switcher");
        await JoinAsync(tournament, player);

        var duet = await Host.RecordAsync(game, player, 9_000, Competition.Now, mode: "duet");
        var runner = await Host.RecordAsync(game, player, 1_000, Competition.Now);
        Assert.Equal(TournamentRunVerdict.WrongMode, Assert.Single(duet.Tournaments).Verdict);
        Assert.Equal(TournamentRunVerdict.Counted, Assert.Single(runner.Tournaments).Verdict);
        using var client = Host.Client(player.Token);
        Assert.Equal(new MeBody(1, 1_000), (await client.BoardAsync($"/api/tournaments/{tournament.Id}/standings")).Me);
        Assert.Equal(new MeBody(1, 9_000), (await client.BoardAsync($"/api/games/{game}/leaderboard")).Me); // the game's board takes every mode
    }

    [Fact]
    public async Task The_list_puts_live_then_upcoming_then_the_latest_ended_first()
    {
        // A portal of this test's own keeps other tests' portal-scoped tournaments out; unscoped ones are filtered below.
        var portal = "list-" + Guid.NewGuid().ToString("N")[..8];
        await fixture.Database.ScalarAsync<int>($"INSERT INTO telemetry_portals (portal, display_name) VALUES ('{portal}', 'List') RETURNING 1");
        var game = Competition.NewGameId();
        // The time is read per call (endsAt must be in the future when the server sees it), and the two short ones
        // leave seconds for the POSTs before them; the poll below absorbs the wait.
        async Task<string> Create(string title, long startsIn, long endsIn)
        {
            var now = Competition.Now;
            return (await Host.CreateTournamentAsync(new
            {
                title, gameId = game, mode = "runner", startsAt = now + startsIn, endsAt = now + endsIn, portal,
            })).Id;
        }

        var endedFirst = await Create("ended first", 0, 3_000);
        var endedLast = await Create("ended last", 0, 3_500);
        var next = await Create("next", 3_600_000, 7_200_000);
        var after = await Create("after", 7_200_000, 9_000_000);
        var liveLong = await Create("live long", 0, 7_200_000);
        var liveShort = await Create("live short", 0, 3_600_000);
        using var client = Host.Client((await Host.GuestAsync()).Token);
        async Task<List<string>> ListAsync(string query) =>
            (await client.GetFromJsonAsync<List<TournamentBody>>($"/api/tournaments?portal={portal}{query}", JsonSerializerOptions.Web))!
                .Where(t => t.Portal == portal).Select(t => t.Id).ToList();

        await Poll.UntilAsync(async () => (await ListAsync("&status=ended")).Count == 2, "both short tournaments ended");
        Assert.Equal([liveShort, liveLong, next, after, endedLast, endedFirst], await ListAsync(""));
        Assert.Equal([endedLast, endedFirst], await ListAsync("&status=ended"));
        Assert.Equal([next, after], await ListAsync("&status=upcoming"));
        Assert.Equal([liveShort, liveLong], await ListAsync("&status=live"));
        Assert.Equal(await ListAsync(""), await ListAsync("&status=")); // an empty filter is no filter
    }

    [Fact]
    public async Task A_portal_outside_the_registry_is_400_from_the_moment_it_is_not_registered()
    {
        using var admin = Host.Client(Host.AdminToken());
        var now = Competition.Now;
        var portal = "new-" + Guid.NewGuid().ToString("N")[..8];
        var body = new { title = "Launch cup", gameId = "g1", mode = "runner", startsAt = now + 60_000, endsAt = now + 120_000, portal, prize = "  a hat  " };
        var upcoming = await Host.CreateTournamentAsync(new { title = "Open", gameId = "g1", mode = "runner", startsAt = now + 60_000, endsAt = now + 120_000 });

        var refused = await (await admin.PostAsJsonAsync("/api/admin/tournaments", body)).ProblemAsync(HttpStatusCode.BadRequest);
        var refusedPatch = await (await admin.PatchAsJsonAsync($"/api/admin/tournaments/{upcoming.Id}", new { portal = "crazygame" })).ProblemAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith($"portal: {portal} is not in the portal registry (", refused.Detail);
        Assert.Contains("crazygames", refusedPatch.Detail);

        // Registered a moment ago: found at once, not after the registry's next periodic read.
        await fixture.Database.ScalarAsync<int>($"INSERT INTO telemetry_portals (portal, display_name) VALUES ('{portal}', 'New') RETURNING 1");
        var created = await (await admin.PostAsJsonAsync("/api/admin/tournaments", body)).Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web);
        Assert.Equal((portal, "a hat"), (created!.Portal, created.Prize));

        // Taken out of the registry a moment ago: refused at once too.
        await fixture.Database.ScalarAsync<int>($"DELETE FROM telemetry_portals WHERE portal = '{portal}' RETURNING 1");
        await (await admin.PostAsJsonAsync("/api/admin/tournaments", body)).ProblemAsync(HttpStatusCode.BadRequest);
    }

    /// <summary>An organiser whose create got no answer (a crash, a dropped connection) sends it again: one tournament.</summary>
    [Fact]
    public async Task A_create_sent_again_with_its_idempotency_key_answers_the_same_tournament()
    {
        using var admin = Host.Client(Host.AdminToken());
        var now = Competition.Now;
        var title = "Retry cup " + Guid.NewGuid().ToString("N")[..8];
        var body = new { title, gameId = "g1", mode = "runner", startsAt = now + 60_000, endsAt = now + 120_000 };
        HttpRequestMessage Create(object content, string key) => new(HttpMethod.Post, "/api/admin/tournaments")
        {
            Content = JsonContent.Create(content), Headers = { { "Idempotency-Key", key } },
        };
        var key = Guid.NewGuid().ToString();

        using var first = await admin.SendAsync(Create(body, key));
        using var again = await admin.SendAsync(Create(body, key));
        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (first.StatusCode, again.StatusCode));
        var (made, answered) = (await first.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web),
            await again.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web));
        Assert.Equal(made!.Id, answered!.Id);
        var listed = await admin.GetFromJsonAsync<List<TournamentBody>>("/api/tournaments?status=upcoming", JsonSerializerOptions.Web);
        Assert.Single(listed!, t => t.Title == title);

        // The same key for another tournament is refused; a key that is not one value of printable ASCII is 400.
        var reused = await (await admin.SendAsync(Create(body with { endsAt = now + 180_000 }, key))).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("IDEMPOTENCY_KEY_REUSED", reused.Code);
        var blank = await (await admin.SendAsync(Create(body, "two words"))).ProblemAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith("Idempotency-Key:", blank.Detail);
    }

    [Fact]
    public async Task A_null_body_or_a_control_character_in_the_prize_is_400_naming_the_field()
    {
        using var admin = Host.Client(Host.AdminToken());
        var now = Competition.Now;
        var upcoming = await Host.CreateTournamentAsync(new { title = "Prize", gameId = "g1", mode = "runner", startsAt = now + 60_000, endsAt = now + 120_000 });

        var nul = await (await admin.PostAsJsonAsync("/api/admin/tournaments", new
        {
            title = "T", gameId = "g1", mode = "runner", startsAt = now + 60_000, endsAt = now + 120_000, prize = "a\0b",
        })).ProblemAsync(HttpStatusCode.BadRequest);
        var nulPatch = await (await admin.PatchAsJsonAsync($"/api/admin/tournaments/{upcoming.Id}", new { prize = "a\0b" })).ProblemAsync(HttpStatusCode.BadRequest);
        var nullBody = await (await admin.PostAsync("/api/admin/tournaments", new StringContent("null", System.Text.Encoding.UTF8, "application/json")))
            .ProblemAsync(HttpStatusCode.BadRequest);
        var emptyPatch = await (await admin.PatchAsync($"/api/admin/tournaments/{upcoming.Id}", new StringContent("", System.Text.Encoding.UTF8, "application/json")))
            .ProblemAsync(HttpStatusCode.BadRequest);

        Assert.Equal(("INVALID_ARGUMENT", "INVALID_ARGUMENT"), (nul.Code, nulPatch.Code));
        Assert.StartsWith("prize:", nul.Detail);
        Assert.StartsWith("prize:", nulPatch.Detail);
        Assert.StartsWith("body:", nullBody.Detail);
        Assert.StartsWith("body:", emptyPatch.Detail);
        Assert.Null((await admin.GetFromJsonAsync<TournamentBody>($"/api/tournaments/{upcoming.Id}", JsonSerializerOptions.Web))!.Prize);
    }

    [Theory]
    [InlineData("title", "\u200B")]        // a zero-width space: a blank row in every list
    [InlineData("title", "Cup \u202Eevil")] // a direction override
    [InlineData("title", "\uFFFE")]        // a noncharacter
    [InlineData("prize", "\u2800\u2800")]  // blank Braille patterns
    public async Task A_title_or_prize_that_shows_nothing_readable_is_400(string field, string text)
    {
        using var admin = Host.Client(Host.AdminToken());
        var now = Competition.Now;
        var body = new Dictionary<string, object> { ["title"] = "Cup", ["gameId"] = "g1", ["mode"] = "runner", ["startsAt"] = now + 60_000, ["endsAt"] = now + 120_000 };
        body[field] = text;
        var refused = await (await admin.PostAsJsonAsync("/api/admin/tournaments", body)).ProblemAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith($"{field}:", refused.Detail);

        body[field] = "Summer 🏆 Cup, 1st prize";
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/admin/tournaments", body)).StatusCode);
    }

    /// <summary>What the engine posts when a game loads; the server resolves the portal from the referrer.</summary>
    private static async Task StartSessionAsync(HttpClient client, string gameId, string referrer)
    {
        using var response = await client.PostAsJsonAsync("/api/sessions", new { gameId, mode = "runner", loadId = Guid.NewGuid(), referrer });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private async Task<TournamentBody> JoinAsync(TournamentBody tournament, GuestIdentity player, string? portal = null)
    {
        using var client = Host.Client(player.Token);
        using var response = await client.PostAsync($"/api/tournaments/{tournament.Id}/join" + (portal is null ? "" : $"?portal={portal}"), null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web))!;
    }
}
