using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>A match's results are persisted before their scores are handed to the competitions; the hand-over must not be lost in between.</summary>
public sealed class RoomScoresTests : DatabaseTest
{
    [Fact]
    public async Task Scores_that_did_not_reach_the_competitions_are_recorded_by_the_rooms_next_activation()
    {
        var songId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var roomId = Guid.NewGuid().ToString();

        // A silo whose competitions cannot take the scores (no scores service registered): the match still ends.
        await using (var failing = await TestSilo.StartAsync(Database.ConnectionString, competitions: false))
        {
            var grains = failing.Grains;
            var node = new RoomNode("test-node", grains.CreateObjectReference<IRoomNodeObserver>(new RecordingNode()));
            var room = grains.GetGrain<IGameRoomGrain>(roomId);
            await room.CreateAsync(new CreateRoomCommand("runner", songId, 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", node);
            await room.JoinAsync(new RoomMember("p2", "Two"), "c2", node, publicLobbyOnly: false);
            await room.SetReadyAsync("p1", true, true);
            await room.SetReadyAsync("p2", true, true);
            await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match starts");
            await room.FinishAsync("p1", 0, "c1");
            await room.FinishAsync("p2", 0, "c2");
            Assert.Equal("finished", (await room.GetViewAsync()).State);
            Assert.Equal(0L, await RunsOfAsync(songId));
        }

        // The next silo (a restart, a fixed deployment) activates the room and hands the scores over.
        await using var working = await TestSilo.StartAsync(Database.ConnectionString);
        var again = working.Grains.GetGrain<IGameRoomGrain>(roomId);
        Assert.Equal("finished", (await again.GetViewAsync()).State);
        await Poll.UntilAsync(async () => await RunsOfAsync(songId) == 2, "both players' runs are recorded");
        Assert.Equal(2L, await Database.ScalarAsync<long>($"SELECT count(*) FROM competition_runs WHERE game_id = '{songId}' AND verdict = 'accepted'"));
    }

    private Task<long> RunsOfAsync(string songId) =>
        Database.ScalarAsync<long>($"SELECT count(*) FROM competition_runs WHERE game_id = '{songId}'");
}
