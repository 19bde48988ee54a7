using Microsoft.Extensions.DependencyInjection;
using PlayMusic.Grains.Rooms;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// A room whose state write fails inside a timer (a database blip at the start or the end of a match) still
/// moves on: clients hear of the change, the loop starts or stops, and the write is retried until it is stored.
/// Real silo and database, the rooms storage behind a switch, a <see cref="SiloClock"/> as clock.
/// </summary>
public sealed class RoomWriteFailureTests : SiloTest
{
    private readonly SiloClock _time = new();
    private readonly FlakyRoomStorage _storage = new();
    private readonly EventLogNode _events = new();
    private RoomNode _node = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _node = new RoomNode("test-node", Grains.CreateObjectReference<IRoomNodeObserver>(_events));
    }

    protected override void ConfigureSilo(IServiceCollection services)
    {
        services.AddSingleton<TimeProvider>(_time);
        _storage.InstallIn(services);
    }

    /// <summary>Two ready players on the test node: the countdown runs; returns when the match is due to start.</summary>
    private async Task<(string RoomId, IGameRoomGrain Room, long StartsAt)> CountdownAsync(string songId, long songDurationMs)
    {
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        await room.CreateAsync(new CreateRoomCommand("runner", songId, songDurationMs, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", _node);
        await room.JoinAsync(new RoomMember("p2", "Two"), "c2", _node, publicLobbyOnly: false);
        await room.SetReadyAsync("p1", true, true);
        var countdown = await room.SetReadyAsync("p2", true, true);
        Assert.Equal("countdown", countdown.State);
        return (roomId, room, countdown.StartsAt!.Value);
    }

    /// <summary>Second by second up to the longest retry delay (8 s), until the room's write retry stored <paramref name="phase"/>.</summary>
    private async Task AdvanceUntilStoredAsync(IGameRoomGrain room, string roomId, string phase)
    {
        for (var second = 0; second < 8 && !_storage.Stored.Contains((roomId, phase)); second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await room.GetViewAsync(); // ordered after a retry due by now
        }

        await Poll.UntilAsync(() => _storage.Stored.Contains((roomId, phase)), $"the {phase} room is stored");
    }

    private void AdvanceTo(long unixMs) => _time.Advance(TimeSpan.FromMilliseconds(unixMs - _time.GetUtcNow().ToUnixTimeMilliseconds()));

    [Fact]
    public async Task A_call_whose_change_cannot_be_stored_is_not_acknowledged_and_the_same_call_later_is()
    {
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", _node);

        var writes = _storage.Stored.Count(w => w.RoomId == roomId);
        _storage.FailRoomWrites = true;
        var refused = await Assert.ThrowsAsync<RoomException>(() => room.JoinAsync(new RoomMember("p2", "Two"), "c2", _node, publicLobbyOnly: false));
        Assert.Equal(RoomErrors.Unavailable, refused.Code);
        // The change stands in memory (the other players were told), only its acknowledgement waits for storage.
        Assert.Equal(["p1", "p2"], (await room.GetViewAsync()).Players.Select(p => p.PlayerId));

        _storage.FailRoomWrites = false;
        var joined = await room.JoinAsync(new RoomMember("p2", "Two"), "c2", _node, publicLobbyOnly: false);
        Assert.Equal(1, joined.Joined.Seat);
        Assert.True(_storage.Stored.Count(w => w.RoomId == roomId) > writes, "the acknowledged join is stored");
    }

    [Fact]
    public async Task A_start_that_cannot_be_stored_still_starts_the_match_and_is_stored_once_the_database_is_back()
    {
        var (roomId, room, startsAt) = await CountdownAsync("song", 60_000);

        _storage.FailRoomWrites = true;
        AdvanceTo(startsAt);
        await Poll.UntilAsync(() => _events.Ticks.Count > 0, "ticks after the start");
        Assert.Contains(_events.States, v => v.State == "running");
        Assert.Equal("running", (await room.GetViewAsync()).State);

        // A retry while the database is still away fails again; the next one, after it is back, stores the start.
        _time.Advance(TimeSpan.FromSeconds(1));
        await room.GetViewAsync(); // ordered after the retry due by now
        Assert.DoesNotContain((roomId, "running"), _storage.Stored);
        _storage.FailRoomWrites = false;
        await AdvanceUntilStoredAsync(room, roomId, "running");
    }

    [Fact]
    public async Task Write_retries_back_off_while_the_database_stays_away()
    {
        var (roomId, room, startsAt) = await CountdownAsync("song", 600_000);
        _storage.FailRoomWrites = true;
        AdvanceTo(startsAt);
        await Poll.UntilAsync(() => _storage.RefusedRoomWrites > 0, "the start's write is refused");
        var first = _storage.RefusedRoomWrites;

        // 7 s in steps of 100 ms. Retrying every second would be 7 more attempts; backing off (1, 2, 4 s) is 3.
        for (var step = 0; step < 70; step++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await room.GetViewAsync(); // ordered after a retry due by now
        }

        var retries = _storage.RefusedRoomWrites - first;
        Assert.InRange(retries, 2, 4);

        // Once the database is back, the next retry (at most 8 s away) stores the state.
        _storage.FailRoomWrites = false;
        await AdvanceUntilStoredAsync(room, roomId, "running");
    }

    [Fact]
    public async Task An_end_that_cannot_be_stored_still_sends_the_results_and_hands_the_scores_over_once_it_is_stored()
    {
        var songId = "song-" + Guid.NewGuid().ToString("N")[..8];
        var (roomId, room, startsAt) = await CountdownAsync(songId, 10_000);
        AdvanceTo(startsAt);
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match starts");

        // The song ends (plus 10 s) while the database is away; the node keeps re-attaching as a live node does.
        _storage.FailRoomWrites = true;
        while (_time.GetUtcNow().ToUnixTimeMilliseconds() <= startsAt + 10_000 + GameRoomGrain.ResultsAfterSongMs)
        {
            _time.Advance(RoomNode.ReattachInterval);
            await room.AttachNodeAsync(_node, [new NodeConnection("c1", "p1"), new NodeConnection("c2", "p2")]);
            await room.GetViewAsync(); // ordered after the tick due by now
        }

        await Poll.UntilAsync(() => _events.Results.Count > 0, "the results");
        Assert.Contains(_events.States, v => v.State == "finished");
        // Results go to the competitions only once stored (docs/rooms.md), and they are not yet.
        Assert.Equal(0L, await RunsOfAsync(songId));

        _storage.FailRoomWrites = false;
        await AdvanceUntilStoredAsync(room, roomId, "finished");
        await Poll.UntilAsync(async () => await RunsOfAsync(songId) == 2, "both players' runs are recorded");
    }

    [Fact]
    public async Task A_room_whose_stored_version_moved_on_steps_aside_and_the_next_activation_serves_the_stored_room()
    {
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", _node);

        // The join is stored but its reply is lost: the activation's version is now behind the stored one, and
        // no write of it can succeed any more (every one is a version conflict).
        _storage.LoseRoomWriteReplies = true;
        var lost = await Assert.ThrowsAsync<RoomException>(() => room.JoinAsync(new RoomMember("p2", "Two"), "c2", _node, publicLobbyOnly: false));
        Assert.Equal(RoomErrors.Unavailable, lost.Code);
        _storage.LoseRoomWriteReplies = false;

        // The retried join reaches a room that can store it again (the stale activation stepped aside; a retry
        // may still meet it once): before, every retry was UNAVAILABLE for as long as the silo lived.
        SeatGrant? joined = null;
        for (var attempt = 0; attempt < 5 && joined is null; attempt++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            try
            {
                joined = await room.JoinAsync(new RoomMember("p2", "Two"), "c2", _node, publicLobbyOnly: false);
            }
            catch (RoomException e) when (e.Code == RoomErrors.Unavailable)
            {
            }
        }

        Assert.NotNull(joined);
        Assert.Equal(1, joined.Joined.Seat);
        Assert.Equal(["p1", "p2"], (await room.GetViewAsync()).Players.Select(p => p.PlayerId));
        await room.SetReadyAsync("p1", true, true); // a write of the new activation
    }

    [Fact]
    public async Task A_room_whose_creation_cannot_be_stored_is_forgotten_and_frees_its_join_code()
    {
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        _storage.FailRoomWrites = true;
        await Assert.ThrowsAnyAsync<Exception>(() => room.CreateAsync(
            new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", _node));
        _storage.FailRoomWrites = false;

        Assert.DoesNotContain(_storage.Stored, w => w.RoomId == roomId);
        // The host's retry creates the room afresh (before, the activation still held the unstored room: "already exists").
        var created = await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", _node);
        Assert.Equal(0, created.Joined.Seat);
    }

    [Fact]
    public async Task The_finish_and_the_ready_that_ended_or_started_a_match_can_be_sent_again_after_UNAVAILABLE()
    {
        var (_, room, startsAt) = await CountdownAsync("song", 60_000);
        AdvanceTo(startsAt);
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match starts");
        // A retried ready of the call that started the match finds its change made.
        Assert.Equal("running", (await room.SetReadyAsync("p2", true, true)).State);

        await room.FinishAsync("p1", 0, "c1");
        _storage.FailRoomWrites = true;
        var refused = await Assert.ThrowsAsync<RoomException>(() => room.FinishAsync("p2", 0, "c2"));
        Assert.Equal(RoomErrors.Unavailable, refused.Code);
        Assert.Equal("finished", (await room.GetViewAsync()).State);

        _storage.FailRoomWrites = false;
        await room.FinishAsync("p2", 0, "c2"); // was INVALID_ARGUMENT: the room is Finished, not running
        Assert.Equal("finished", (await room.GetViewAsync()).State);
    }

    private Task<long> RunsOfAsync(string songId) =>
        Database.ScalarAsync<long>($"SELECT count(*) FROM competition_runs WHERE game_id = '{songId}'");
}
