using Microsoft.Extensions.DependencyInjection;
using Orleans;
using PlayMusic.Grains.Competitions;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

/// <summary>
/// Boards append each group commit to <c>leaderboard_log</c> and fold it into <c>leaderboard_entries</c>
/// later: what a crash leaves in the log must still count, and folding must keep each player's best.
/// </summary>
public sealed class LeaderboardLogTests : DatabaseTest
{
    private const string Game = "game-logtest";
    private const string Board = $"game/{Game}/global";

    [Fact]
    public async Task A_board_rebuilds_from_table_and_uncompacted_log_and_compaction_folds_the_best_entries()
    {
        // Migrate, then leave the state a crash would: compacted rows plus log rows never folded.
        await (await ApiHost.StartAsync(Database.ConnectionString)).DisposeAsync();
        await Database.ScalarAsync<object>($"""
            INSERT INTO leaderboard_entries VALUES
                ('{Board}', 'ann', 'Ann', 5000, 100), ('{Board}', 'bob', 'Bob', 8000, 500), ('{Board}', 'eve', 'Eve', 9500, 50);
            INSERT INTO leaderboard_log VALUES
                ('{Board}', ARRAY['ann', 'cat'], ARRAY['Ann 2', 'Cat'], ARRAY[9000, 100], ARRAY[300, 300]),
                ('{Board}', ARRAY['ann', 'bob', 'eve'], ARRAY['Ann 3', 'Bob 2', 'Eve 2'], ARRAY[7000, 8000, 9000], ARRAY[400, 200, 60]);
            """);

        await using var host = await ApiHost.StartAsync(Database.ConnectionString, new Dictionary<string, string?>
        {
            ["PLAYMUSIC_LEADERBOARD_COMPACT_SECONDS"] = "1",
        });
        using var client = host.Client((await host.GuestAsync("Reader")).Token);

        // Eve's table row beats her logged 9,000; Ann's logged 9,000 beats her row and her later 7,000;
        // Bob's logged tie is earlier (200 < 500) so it wins; Cat exists only in the log.
        var expected = new[]
        {
            new EntryBody(1, "eve", "Eve", 9500, 50),
            new EntryBody(2, "ann", "Ann 2", 9000, 300),
            new EntryBody(3, "bob", "Bob 2", 8000, 200),
            new EntryBody(4, "cat", "Cat", 100, 300),
        };
        Assert.Equal(expected, (await client.BoardAsync($"/api/games/{Game}/leaderboard")).Entries);

        // The timer folds the log away, and the table then holds exactly the board.
        await Poll.UntilAsync(async () => await Database.ScalarAsync<long>("SELECT count(*) FROM leaderboard_log") == 0, "the log is compacted", TimeSpan.FromSeconds(30));
        var table = await Database.ScalarAsync<string>(
            $"SELECT string_agg(player_id || ':' || display_name || ':' || score || ':' || achieved_at, ',' ORDER BY score DESC) FROM leaderboard_entries WHERE board = '{Board}'");
        Assert.Equal("eve:Eve:9500:50,ann:Ann 2:9000:300,bob:Bob 2:8000:200,cat:Cat:100:300", table);

        // A new score goes through the log into the table too.
        var dan = await host.GuestAsync("Dan");
        await host.RecordAsync(Game, dan, 12_000, Competition.Now);
        await Poll.UntilAsync(async () =>
            await Database.ScalarAsync<long>($"SELECT score FROM leaderboard_entries WHERE board = '{Board}' AND player_id = '{dan.PlayerId}'") == 12_000,
            "Dan's score is compacted", TimeSpan.FromSeconds(30));
        Assert.Equal(0L, await Database.ScalarAsync<long>($"SELECT count(*) FROM leaderboard_log WHERE board = '{Board}'"));
    }

    [Fact]
    public async Task Concurrent_submissions_through_the_submitter_each_get_their_own_result()
    {
        await using var host = await ApiHost.StartAsync(Database.ConnectionString);
        var submitter = host.Services.GetRequiredService<LeaderboardSubmitter>();

        // 40 players, each offering a worse and a better score at once: 80 callers share a few grain calls.
        var offers = Enumerable.Range(0, 40).SelectMany(i => new[]
        {
            (Player: $"p{i:D2}", Score: 1_000L + i, Better: false),
            (Player: $"p{i:D2}", Score: 2_000L + i, Better: true),
        }).ToArray();
        var results = await Task.WhenAll(offers.Select(o => submitter.SubmitAsync(Board, new ScoreSubmission(o.Player, o.Player, o.Score, 1_000))));

        for (var i = 0; i < offers.Length; i++)
        {
            if (offers[i].Better)
            {
                Assert.True(results[i].Improved, $"{offers[i].Player}'s better score was not reported as its best");
            }

            // A caller learns the standing after the batch that held its score: its own score or a better one.
            Assert.InRange(results[i].Standing.Score, offers[i].Score, offers[i].Better ? offers[i].Score : offers[i].Score + 1_000);
        }

        // p39's 2,039 is the highest score there can be: rank 1 whenever it was answered.
        Assert.Equal(new PlayerStanding(1, 2_039), results[^1].Standing);
        var page = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<ILeaderboardGrain>(Board).GetPageAsync(new LeaderboardQuery(100, "p00", false));
        Assert.Equal(40, page.Total);
        Assert.Equal([.. Enumerable.Range(0, 40).Select(i => 2_039L - i)], page.Entries.Select(e => e.Score));
        Assert.Equal(new PlayerStanding(40, 2_000), page.Me);
        Assert.Equal(40L, await Database.ScalarAsync<long>($"SELECT count(*) FROM leaderboard_best WHERE board = '{Board}' AND score >= 2000"));
    }
}
