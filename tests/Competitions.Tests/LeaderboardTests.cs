using System.Net;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

public sealed class LeaderboardTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private ApiHost Host => fixture.Host;

    [Fact]
    public async Task Best_score_per_player_ranks_first_and_ties_go_to_the_earlier_achievement()
    {
        var game = Competition.NewGameId();
        var (ann, bob, cat, dan) = (await Host.GuestAsync("Ann"), await Host.GuestAsync("Bob"), await Host.GuestAsync("Cat"), await Host.GuestAsync("Dan"));
        var t = Competition.Now;
        await Host.RecordAsync(game, ann, 9_000, t + 30);
        await Host.RecordAsync(game, bob, 12_000, t + 10);
        await Host.RecordAsync(game, cat, 9_000, t + 20);   // same score as Ann, earlier: ranks above her
        await Host.RecordAsync(game, dan, 500, t + 40);
        await Host.RecordAsync(game, bob, 4_000, t + 50);   // worse than Bob's best: ignored
        await Host.RecordAsync(game, dan, 15_000, t + 60);  // better: replaces Dan's best

        using var client = Host.Client(ann.Token);
        var board = await client.BoardAsync($"/api/games/{game}/leaderboard");

        Assert.Equal("global", board.Scope);
        Assert.Equal([dan.PlayerId, bob.PlayerId, cat.PlayerId, ann.PlayerId], board.Entries.Select(e => e.PlayerId));
        Assert.Equal([1L, 2, 3, 4], board.Entries.Select(e => e.Rank));
        Assert.Equal([15_000L, 12_000, 9_000, 9_000], board.Entries.Select(e => e.Score));
        Assert.Equal(t + 60, board.Entries[0].AchievedAt);
        Assert.Equal("Dan", board.Entries[0].DisplayName);
        Assert.Equal(new MeBody(4, 9_000), board.Me);

        var top2 = await client.BoardAsync($"/api/games/{game}/leaderboard?scope=global&limit=2");
        Assert.Equal([dan.PlayerId, bob.PlayerId], top2.Entries.Select(e => e.PlayerId));
        Assert.Equal(new MeBody(4, 9_000), top2.Me);

        // Durable: PostgreSQL holds one best entry per player (compacted or still in the write log).
        Assert.Equal(4L, await fixture.Database.ScalarAsync<long>($"SELECT count(*) FROM leaderboard_best WHERE board = 'game/{game}/global'"));
        Assert.Equal(15_000L, await fixture.Database.ScalarAsync<long>(
            $"SELECT score FROM leaderboard_best WHERE board = 'game/{game}/global' AND player_id = '{dan.PlayerId}'"));
    }

    [Fact]
    public async Task Around_me_gives_the_entries_just_above_and_below_at_the_top_middle_and_bottom()
    {
        var game = Competition.NewGameId();
        var players = new List<GuestIdentity>();
        for (var i = 0; i < 11; i++)
        {
            var player = await Host.GuestAsync($"P{i}");
            players.Add(player);
            await Host.RecordAsync(game, player, 100_000 - i * 1_000, Competition.Now); // players[i] has rank i + 1
        }

        async Task<BoardBody> Around(GuestIdentity who, int limit)
        {
            using var client = Host.Client(who.Token);
            return await client.BoardAsync($"/api/games/{game}/leaderboard?limit={limit}&around=me");
        }

        var top = await Around(players[0], 3);
        Assert.Equal([1L, 2, 3], top.Entries.Select(e => e.Rank));
        Assert.Equal(new MeBody(1, 100_000), top.Me);

        var middle = await Around(players[5], 3);
        Assert.Equal([5L, 6, 7], middle.Entries.Select(e => e.Rank));
        Assert.Equal([players[4].PlayerId, players[5].PlayerId, players[6].PlayerId], middle.Entries.Select(e => e.PlayerId));
        Assert.Equal(new MeBody(6, 95_000), middle.Me);

        var middleFive = await Around(players[5], 5);
        Assert.Equal([4L, 5, 6, 7, 8], middleFive.Entries.Select(e => e.Rank));

        var bottom = await Around(players[10], 3);
        Assert.Equal([9L, 10, 11], bottom.Entries.Select(e => e.Rank));
        Assert.Equal(new MeBody(11, 90_000), bottom.Me);

        // A caller without an entry gets the top and no "me".
        var stranger = await Around(await Host.GuestAsync("Nobody"), 2);
        Assert.Equal([1L, 2], stranger.Entries.Select(e => e.Rank));
        Assert.Null(stranger.Me);
    }

    [Fact]
    public async Task Scores_above_the_mode_cap_are_rejected_and_run_ids_are_idempotent()
    {
        var game = Competition.NewGameId();
        var player = await Host.GuestAsync("Capped");

        // runner: 5000/s for 60 s plus one second's worth = 305,000.
        var tooHigh = await Host.RecordAsync(game, player, 305_001, Competition.Now, durationMs: 60_000);
        Assert.Equal(RunVerdict.Rejected, tooHigh.Verdict);
        Assert.Contains("cap", tooHigh.Reason);

        var runId = Guid.NewGuid().ToString();
        var atCap = await Host.RecordAsync(game, player, 305_000, Competition.Now, durationMs: 60_000, runId: runId);
        Assert.Equal(RunVerdict.Accepted, atCap.Verdict);
        var again = await Host.RecordAsync(game, player, 305_000, Competition.Now, durationMs: 60_000, runId: runId);
        Assert.Equal(RunVerdict.Duplicate, again.Verdict);

        using var client = Host.Client(player.Token);
        var board = await client.BoardAsync($"/api/games/{game}/leaderboard");
        Assert.Equal(305_000, Assert.Single(board.Entries).Score);
        Assert.Equal(1L, await fixture.Database.ScalarAsync<long>($"SELECT count(*) FROM competition_runs WHERE run_id = '{runId}'"));
    }

    [Fact]
    public async Task A_portal_board_holds_only_that_portals_runs()
    {
        var game = Competition.NewGameId();
        var (y8Player, crazyPlayer) = (await Host.GuestAsync("OnY8"), await Host.GuestAsync("OnCrazy"));
        await Host.RecordAsync(game, y8Player, 1_000, Competition.Now, portal: "y8");
        await Host.RecordAsync(game, crazyPlayer, 2_000, Competition.Now, portal: "crazygames");

        using var client = Host.Client(y8Player.Token);
        var y8 = await client.BoardAsync($"/api/games/{game}/leaderboard?scope=portal:y8");
        Assert.Equal("portal:y8", y8.Scope);
        Assert.Equal([y8Player.PlayerId], y8.Entries.Select(e => e.PlayerId));
        Assert.Equal(new MeBody(1, 1_000), y8.Me);

        var global = await client.BoardAsync($"/api/games/{game}/leaderboard?scope=global");
        Assert.Equal([crazyPlayer.PlayerId, y8Player.PlayerId], global.Entries.Select(e => e.PlayerId));
        Assert.Equal(new MeBody(2, 1_000), global.Me);

        // Empty parameters, as a form or PROTOCOL §4's `?limit=&around=me` spell them, are the defaults.
        var unset = await client.BoardAsync($"/api/games/{game}/leaderboard?scope=&limit=&around=me");
        Assert.Equal("global", unset.Scope);
        Assert.Equal(global.Entries, unset.Entries);
        Assert.Equal(new MeBody(2, 1_000), unset.Me);
    }

    [Theory]
    [InlineData("/api/games/bad!id/leaderboard", "gameId")]
    [InlineData("/api/games/g1/leaderboard?scope=weekly", "scope")]
    [InlineData("/api/games/g1/leaderboard?scope=portal:Y8!", "scope")]
    [InlineData("/api/games/g1/leaderboard?limit=0", "limit")]
    [InlineData("/api/games/g1/leaderboard?limit=101", "limit")]
    [InlineData("/api/games/g1/leaderboard?limit=ten", "limit")]
    [InlineData("/api/games/g1/leaderboard?around=you", "around")]
    public async Task Bad_queries_are_400_naming_the_field(string url, string field)
    {
        using var client = Host.Client((await Host.GuestAsync()).Token);
        var problem = await (await client.GetAsync(url)).ProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal("INVALID_ARGUMENT", problem.Code);
        Assert.StartsWith(field, problem.Detail);
    }

    [Fact]
    public async Task The_leaderboard_needs_a_token()
    {
        var problem = await (await Host.Http.GetAsync("/api/games/g1/leaderboard")).ProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal("UNAUTHORIZED", problem.Code);
    }
}
