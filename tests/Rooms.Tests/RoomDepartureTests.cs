using Microsoft.Extensions.DependencyInjection;
using PlayMusic.Competitions;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// What a player leaves behind: a finished run stays in the results as it was finished and reaches the boards, and an
/// emptied emote bucket stays empty across a leave and a join. Real silo and database, a <see cref="SiloClock"/> as clock.
/// </summary>
public sealed class RoomDepartureTests : SiloTest
{
    private readonly SiloClock _time = new();
    private readonly EventLogNode _events = new();
    private RoomNode _node = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _node = new RoomNode("test-node", Grains.CreateObjectReference<IRoomNodeObserver>(_events));
    }

    protected override void ConfigureSilo(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    /// <summary>Three players in a running match, two seconds into the song.</summary>
    private async Task<IGameRoomGrain> RunningMatchAsync(string songId)
    {
        var room = Grains.GetGrain<IGameRoomGrain>(Guid.NewGuid().ToString());
        await room.CreateAsync(new CreateRoomCommand("runner", songId, 120_000, 3, true, RawJson.EmptyObject), new RoomMember("ann", "Ann"), "c1", _node);
        await room.JoinAsync(new RoomMember("bob", "Bob"), "c2", _node, publicLobbyOnly: false);
        await room.JoinAsync(new RoomMember("cat", "Cat"), "c3", _node, publicLobbyOnly: false);
        await room.SetReadyAsync("ann", true, true);
        await room.SetReadyAsync("bob", true, true);
        var countdown = await room.SetReadyAsync("cat", true, true);
        _time.Advance(TimeSpan.FromMilliseconds(countdown.StartsAt!.Value - _time.GetUtcNow().ToUnixTimeMilliseconds() + 2_000));
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match runs");
        return room;
    }

    [Fact]
    public async Task A_run_finished_before_leaving_stays_in_the_results_and_reaches_the_boards()
    {
        var songId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var room = await RunningMatchAsync(songId);

        await room.FinishAsync("ann", 4_000, "c1");
        await room.LeaveAsync("ann", "c1");
        await room.FinishAsync("bob", 100, "c2");
        await room.FinishAsync("cat", 0, "c3");

        await Poll.UntilAsync(() => _events.Results.Count > 0, "the results");
        var ranking = Assert.Single(_events.Results).Ranking;
        Assert.Equal([("ann", 4_000L, 1), ("bob", 100L, 2), ("cat", 0L, 3)], ranking.Select(r => (r.PlayerId, r.Score, r.Rank)));
        await Poll.UntilAsync(async () => await RunsOfAsync(songId) == 3, "all three runs are recorded");
    }

    [Fact]
    public async Task Each_run_ends_when_its_player_finished_so_the_earlier_of_a_tie_ranks_first()
    {
        var songId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var room = await RunningMatchAsync(songId);

        await room.FinishAsync("bob", 300, "c2");
        _time.Advance(TimeSpan.FromMilliseconds(1_500));
        await room.FinishAsync("ann", 300, "c1");
        _time.Advance(TimeSpan.FromMilliseconds(1_500));
        await room.FinishAsync("cat", 0, "c3");

        await Poll.UntilAsync(async () => await RunsOfAsync(songId) == 3, "all three runs are recorded");
        var bobEnded = await Database.ScalarAsync<long>($"SELECT ended_at FROM competition_runs WHERE game_id = '{songId}' AND player_id = 'bob'");
        var annEnded = await Database.ScalarAsync<long>($"SELECT ended_at FROM competition_runs WHERE game_id = '{songId}' AND player_id = 'ann'");
        Assert.Equal(1_500, annEnded - bobEnded);
        var top = (await Grains.GetGrain<ILeaderboardGrain>(BoardKeys.Global(songId)).GetPageAsync(new LeaderboardQuery(2, null, false))).Entries;
        Assert.Equal(["bob", "ann"], top.Select(e => e.PlayerId)); // "ann" would come first on the player-id tie-break
    }

    [Fact]
    public async Task A_finished_run_takes_no_other_score_but_a_retry_of_the_same_finish_is_acknowledged()
    {
        var room = await RunningMatchAsync("song-" + Guid.NewGuid().ToString("N")[..8]);

        await room.FinishAsync("ann", 1_000, "c1");
        _time.Advance(TimeSpan.FromSeconds(2)); // room under the cap for 9,000: only the finish stands in the way
        var refinish = await Assert.ThrowsAsync<RoomException>(() => room.FinishAsync("ann", 9_000, "c1"));
        Assert.Equal(RoomErrors.InvalidArgument, refinish.Code);
        await room.FinishAsync("ann", 1_000, "c1");

        await room.FinishAsync("bob", 2_000, "c2");
        await room.FinishAsync("cat", 0, "c3");
        await Poll.UntilAsync(() => _events.Results.Count > 0, "the results");
        Assert.Equal([("bob", 2_000L), ("ann", 1_000L)], Assert.Single(_events.Results).Ranking.Take(2).Select(r => (r.PlayerId, r.Score)));
    }

    [Fact]
    public async Task A_seat_the_songs_end_finished_takes_a_finish_only_as_a_retry_of_its_score()
    {
        var room = await RunningMatchAsync("song-" + Guid.NewGuid().ToString("N")[..8]);
        // The node re-announces its connections as the clock runs, as a live API node does (else it counts as crashed).
        NodeConnection[] connections = [new("c1", "ann"), new("c2", "bob"), new("c3", "cat")];
        for (var step = 0; step < 60 && _events.Results.Count == 0; step++) // 130 s of song and wait: 44 steps
        {
            _time.Advance(RoomNode.ReattachInterval);
            await room.AttachNodeAsync(_node, connections);
            await room.GetViewAsync();
        }

        await Poll.UntilAsync(() => _events.Results.Count > 0, "the song's end finishes the match");

        await room.FinishAsync("ann", 0, "c1"); // her score when the song ended: a finish sent as it ended
        var other = await Assert.ThrowsAsync<RoomException>(() => room.FinishAsync("ann", 5_000, "c1"));
        Assert.Equal(RoomErrors.InvalidArgument, other.Code);
    }

    [Fact]
    public async Task When_everyone_else_quits_a_finished_run_still_reaches_the_boards()
    {
        var songId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var room = await RunningMatchAsync(songId);

        await room.FinishAsync("ann", 4_000, "c1");
        await room.LeaveAsync("ann", "c1");
        await room.LeaveAsync("bob", "c2");
        await room.LeaveAsync("cat", "c3");

        await Poll.UntilAsync(async () => await RunsOfAsync(songId) == 1, "the finished run is recorded");
        Assert.Equal(4_000L, await Database.ScalarAsync<long>($"SELECT score FROM competition_runs WHERE game_id = '{songId}' AND player_id = 'ann'"));
    }

    [Fact]
    public async Task Leaving_and_joining_again_does_not_refill_the_emote_burst()
    {
        var room = Grains.GetGrain<IGameRoomGrain>(Guid.NewGuid().ToString());
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 120_000, 3, true, RawJson.EmptyObject), new RoomMember("ann", "Ann"), "c1", _node);
        await room.JoinAsync(new RoomMember("bob", "Bob"), "c2", _node, publicLobbyOnly: false);
        for (var i = 0; i < 3; i++)
        {
            await room.EmoteAsync("bob", "wave");
        }

        await room.LeaveAsync("bob", "c2");
        await room.JoinAsync(new RoomMember("bob", "Bob"), "c2", _node, publicLobbyOnly: false);
        var limited = await Assert.ThrowsAsync<RoomException>(() => room.EmoteAsync("bob", "wave"));
        Assert.Equal(RoomErrors.RateLimited, limited.Code);

        // A second later the bucket has one emote again, as it would without the leave.
        _time.Advance(TimeSpan.FromSeconds(1));
        await room.EmoteAsync("bob", "wave");
    }

    [Fact]
    public async Task A_connection_whose_seat_was_taken_over_can_neither_leave_nor_finish_for_it()
    {
        var room = await RunningMatchAsync("song-" + Guid.NewGuid().ToString("N")[..8]);

        // Ann's other tab resumes her seat; the first tab still thinks it is seated (after a room reactivation
        // nobody could tell it otherwise).
        await room.ResumeAsync("ann", 0, "c1-other-tab", _node);
        var leave = await Assert.ThrowsAsync<RoomException>(() => room.LeaveAsync("ann", "c1"));
        var finish = await Assert.ThrowsAsync<RoomException>(() => room.FinishAsync("ann", 10, "c1"));
        Assert.Equal((RoomErrors.NotInRoom, RoomErrors.NotInRoom), (leave.Code, finish.Code));
        Assert.Contains((await room.GetViewAsync()).Players, p => p.PlayerId == "ann");

        await room.FinishAsync("ann", 1_000, "c1-other-tab");
        await room.FinishAsync("bob", 100, "c2");
        await room.FinishAsync("cat", 0, "c3");
        await Poll.UntilAsync(() => _events.Results.Count > 0, "the results");
        Assert.Equal(1_000, Assert.Single(_events.Results).Ranking.Single(r => r.PlayerId == "ann").Score);
    }

    private Task<long> RunsOfAsync(string songId) =>
        Database.ScalarAsync<long>($"SELECT count(*) FROM competition_runs WHERE game_id = '{songId}'");
}
