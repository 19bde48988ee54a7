using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

public sealed class RestartTests : DatabaseTest
{
    [Fact]
    public async Task A_board_and_a_tournament_survive_a_silo_restart_with_standings_intact()
    {
        var game = Competition.NewGameId();
        TournamentBody tournament;
        GuestIdentity ann, bob;
        BoardBody boardBefore, standingsBefore;
        await using (var before = await ApiHost.StartAsync(Database.ConnectionString))
        {
            tournament = await before.CreateTournamentAsync(new
            {
                title = "Durable", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000, maxAttempts = 1,
            });
            (ann, bob) = (await before.GuestAsync("Ann"), await before.GuestAsync("Bob"));
            foreach (var player in new[] { ann, bob })
            {
                using var client = before.Client(player.Token);
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/api/tournaments/{tournament.Id}/join", null)).StatusCode);
            }

            await before.RecordAsync(game, ann, 7_000, Competition.Now);
            await before.RecordAsync(game, bob, 8_000, Competition.Now);
            using var annClient = before.Client(ann.Token);
            boardBefore = await annClient.BoardAsync($"/api/games/{game}/leaderboard");
            standingsBefore = await annClient.BoardAsync($"/api/tournaments/{tournament.Id}/standings");
            Assert.Equal(2, standingsBefore.Entries.Count);
        }

        await using var after = await ApiHost.StartAsync(Database.ConnectionString);
        using var annAfter = after.Client(ann.Token);
        Assert.Equal(boardBefore.Entries, (await annAfter.BoardAsync($"/api/games/{game}/leaderboard")).Entries);
        var standingsAfter = await annAfter.BoardAsync($"/api/tournaments/{tournament.Id}/standings");
        Assert.Equal(standingsBefore.Entries, standingsAfter.Entries);
        Assert.Equal(new MeBody(2, 7_000), standingsAfter.Me);
        Assert.Equal("live", standingsAfter.Status);
        var reloaded = await annAfter.GetFromJsonAsync<TournamentBody>($"/api/tournaments/{tournament.Id}", JsonSerializerOptions.Web);
        Assert.Equal(2, reloaded!.Entrants);

        // Entrants and attempt counts came back too: Ann's one attempt is used up, a newcomer is not joined.
        var retry = await after.RecordAsync(game, ann, 9_000, Competition.Now);
        Assert.Equal(TournamentRunVerdict.AttemptsExhausted, Assert.Single(retry.Tournaments).Verdict);
        Assert.Empty((await after.RecordAsync(game, await after.GuestAsync("New"), 9_500, Competition.Now)).Tournaments);
        Assert.Equal(new MeBody(2, 9_000), (await annAfter.BoardAsync($"/api/games/{game}/leaderboard")).Me); // behind the newcomer's 9,500
    }

    [Fact]
    public async Task The_schedule_holds_across_a_restart_with_no_calls()
    {
        TournamentBody tournament;
        await using (var before = await ApiHost.StartAsync(Database.ConnectionString))
        {
            tournament = await before.CreateTournamentAsync(new
            {
                title = "Across restarts", gameId = Competition.NewGameId(), mode = "runner",
                startsAt = Competition.Now + 3_000, endsAt = Competition.Now + 12_000,
            });
        }

        // The new silo is never asked about the tournament: its start-up sweep (or the reminder) must re-arm the timer.
        await using var after = await ApiHost.StartAsync(Database.ConnectionString);
        await Poll.UntilAsync(async () => await Database.ScalarAsync<string>($"SELECT status FROM tournaments WHERE id = '{tournament.Id}'") == "live",
            "the tournament is live", TimeSpan.FromSeconds(15));
        // Not early: the clock is read after the status was seen, so it is never before the change. How late is
        // bounded by the poll timeouts, which a minute-period reminder alone would miss.
        Assert.True(Competition.Now >= tournament.StartsAt, $"live before startsAt {tournament.StartsAt}");
        await Poll.UntilAsync(async () => await Database.ScalarAsync<string>($"SELECT status FROM tournaments WHERE id = '{tournament.Id}'") == "ended",
            "the tournament has ended", TimeSpan.FromSeconds(20));
        Assert.True(Competition.Now >= tournament.EndsAt, $"ended before endsAt {tournament.EndsAt}");
    }
}
