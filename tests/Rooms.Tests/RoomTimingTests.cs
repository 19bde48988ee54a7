using Microsoft.Extensions.DependencyInjection;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// The room grain on a real silo and database, but with a <see cref="SiloClock"/> as the silo's clock:
/// grain timers and the room's own reads of time follow it, so countdown, tick scheduling and grace expiry
/// are checked without sleeping.
/// </summary>
public sealed class RoomTimingTests : SiloTest
{
    // On a whole millisecond, as real timers count: the room aims every timer at a whole millisecond.
    private readonly SiloClock _time = new();
    private readonly RecordingNode _node = new();

    protected override void ConfigureSilo(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    /// <summary>What API nodes do while they are up: re-announce their connections every interval, as the clock runs.</summary>
    private async Task KeepAttachingAsync(IGameRoomGrain room, TimeSpan duration, params (RoomNode Node, NodeConnection[] Connections)[] nodes)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < duration; elapsed += RoomNode.ReattachInterval)
        {
            _time.Advance(RoomNode.ReattachInterval);
            foreach (var (node, connections) in nodes)
            {
                await room.AttachNodeAsync(node, connections);
            }

            await room.GetViewAsync(); // the one-way attaches have run
        }
    }

    /// <summary>A private runner lobby: p1 (connection c1) on the first node, p2 (c2) on the second.</summary>
    private async Task<(string RoomId, IGameRoomGrain Room)> TwoPlayerRoomAsync(RoomNode first, RoomNode second)
    {
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", first);
        await room.JoinAsync(new RoomMember("p2", "Two"), "c2", second, publicLobbyOnly: false);
        return (roomId, room);
    }

    private (RoomNode A, RoomNode B) Nodes() =>
        (new RoomNode("node-a", Grains.CreateObjectReference<IRoomNodeObserver>(_node)),
         new RoomNode("node-b", Grains.CreateObjectReference<IRoomNodeObserver>(new RecordingNode())));

    /// <summary>
    /// Asserts that these seats are still held once every timer already due on the fake clock has run: the fake
    /// clock runs a due timer's callback as the timer is armed (or inside Advance), which queues the grain timer's
    /// tick on the activation like a call, so this call is answered only after a grace timer armed as already due.
    /// </summary>
    private static async Task SeatsHeldAfterDueTimersAsync(IGameRoomGrain room, params string[] playerIds) =>
        Assert.Equal(playerIds, (await room.GetViewAsync()).Players.Select(p => p.PlayerId));

    [Fact]
    public async Task Countdown_ticks_and_grace_follow_the_clock()
    {
        var node = new RoomNode("test-node", Grains.CreateObjectReference<IRoomNodeObserver>(_node));
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", node);
        await room.JoinAsync(new RoomMember("p2", "Two"), "c2", node, publicLobbyOnly: false);
        await room.SetReadyAsync("p1", true, true);
        var countdown = await room.SetReadyAsync("p2", true, true);

        // Countdown: 3 s of the room's clock, rounded up to the 100 ms grid that all rooms tick on.
        Assert.Equal("countdown", countdown.State);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var start = (now + 3000 + 99) / 100 * 100;
        Assert.Equal(start, countdown.StartsAt);
        _time.Advance(TimeSpan.FromMilliseconds(start - now - 10));
        // No sleep needed: the fake clock runs due timers inside Advance, and Orleans queues a timer tick on the
        // activation like a call, so this call would run after a countdown timer that fired early.
        Assert.Equal("countdown", (await room.GetViewAsync()).State);
        _time.Advance(TimeSpan.FromMilliseconds(10));
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match starts");

        // Tick 0 is due at the start itself; tick n at start + n/30 s.
        await Poll.UntilAsync(() => _node.Ticks.Count >= 1, "tick 0");
        Assert.Equal(start, _node.Ticks.Last().ServerTime);
        Assert.True(_node.Ticks.Last().Full);

        // Drift correction: tick 1 (due at +33.3 ms) runs 16.7 ms late at +50 ms; tick 2 is still due at
        // +66.7 ms (a timer period counted from the late tick would wait until +83 ms).
        _time.Advance(TimeSpan.FromMilliseconds(50));
        await Poll.UntilAsync(() => _node.Ticks.Count >= 2, "tick 1");
        Assert.Equal(start + 50, _node.Ticks.Last().ServerTime);
        _time.Advance(TimeSpan.FromMilliseconds(17));
        await Poll.UntilAsync(() => _node.Ticks.Count >= 3, "tick 2 at its ideal time");
        Assert.Equal(2, _node.Ticks.Last().Tick);
        Assert.Equal(start + 67, _node.Ticks.Last().ServerTime);

        // 30 further ideal steps (each rounded up to its millisecond) give 30 ticks, in order, with a keyframe among them.
        for (var n = 3; n < 33; n++)
        {
            _time.SetUtcNow(DateTimeOffset.FromUnixTimeMilliseconds(start + (n * 1000 + 29) / 30));
            var expected = n + 1;
            await Poll.UntilAsync(() => _node.Ticks.Count >= expected, $"tick {n}");
        }

        Assert.Equal(Enumerable.Range(0, 33).Select(i => (long)i), _node.Ticks.Select(t => t.Tick));
        Assert.Contains(_node.Ticks.Skip(1), t => t.Full);

        // Grace: a dropped seat is kept for 30 s of the clock, then removed with reason timeout (meanwhile the
        // node re-attaches its remaining connection, as a live node does).
        await room.DisconnectAsync("p2", "c2");
        await KeepAttachingAsync(room, TimeSpan.FromSeconds(27), (node, [new NodeConnection("c1", "p1")]));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, (await room.GetViewAsync()).Players.Count); // ordered after a grace timer that fired early
        Assert.Empty(_node.Left);
        _time.Advance(TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(() => !_node.Left.IsEmpty, "the seat expires");
        var left = Assert.Single(_node.Left);
        Assert.Equal(("p2", "timeout"), (left.PlayerId, left.Reason));
        Assert.Single((await room.GetViewAsync()).Players);
    }

    [Fact]
    public async Task Seats_and_spectators_of_a_node_that_stops_re_attaching_are_released()
    {
        var alive = new RoomNode("alive-node", Grains.CreateObjectReference<IRoomNodeObserver>(_node));
        var crashed = new RoomNode("crashed-node", Grains.CreateObjectReference<IRoomNodeObserver>(new RecordingNode()));
        var room = Grains.GetGrain<IGameRoomGrain>(Guid.NewGuid().ToString());
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", alive);
        await room.JoinAsync(new RoomMember("p2", "Two"), "c2", crashed, publicLobbyOnly: false);
        await room.SpectateAsync("s1", crashed);
        var lastHeard = _time.GetUtcNow();

        // The alive node re-attaches every 3 s; the crashed one never again (nor does it report its connections closed).
        await KeepAttachingAsync(room, TimeSpan.FromSeconds(12), (alive, [new NodeConnection("c1", "p1")]));
        await Poll.UntilAsync(async () => (await room.GetViewAsync()) is { Spectators: 0 } view && !view.Players.Single(p => p.PlayerId == "p2").Connected,
            "the crashed node's seat is disconnected and its spectator gone");
        Assert.True((await room.GetViewAsync()).Players.Single(p => p.PlayerId == "p1").Connected);

        // The seat's grace counts from when its node was last heard: removed 30 s after that, with reason timeout.
        await KeepAttachingAsync(room, lastHeard + TimeSpan.FromSeconds(31) - _time.GetUtcNow(), (alive, [new NodeConnection("c1", "p1")]));
        await Poll.UntilAsync(() => !_node.Left.IsEmpty, "the seat expires");
        Assert.Equal(("p2", "timeout"), (_node.Left.Single().PlayerId, _node.Left.Single().Reason));
    }

    [Fact]
    public async Task A_seat_that_re_attached_after_one_restart_survives_the_next()
    {
        var (nodeA, nodeB) = Nodes();
        var (roomId, room) = await TwoPlayerRoomAsync(nodeA, nodeB);
        NodeConnection[] onA = [new("c1", "p1")], onB = [new("c2", "p2")];

        // A restart: node A re-attaches first and p1 gets ready (a write) before node B's re-attach arrives.
        await RestartSiloAsync();
        room = Grains.GetGrain<IGameRoomGrain>(roomId);
        (nodeA, nodeB) = Nodes();
        await room.AttachNodeAsync(nodeA, onA);
        await room.SetReadyAsync("p1", true, true);
        await room.AttachNodeAsync(nodeB, onB);
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).Players.All(p => p.Connected), "both seats are back");
        await KeepAttachingAsync(room, TimeSpan.FromSeconds(60), (nodeA, onA), (nodeB, onB));

        // The next restart, a minute later: node A's re-attach reactivates the room, node B's comes a moment after.
        await RestartSiloAsync();
        room = Grains.GetGrain<IGameRoomGrain>(roomId);
        (nodeA, nodeB) = Nodes();
        await room.AttachNodeAsync(nodeA, onA);
        await SeatsHeldAfterDueTimersAsync(room, "p1", "p2");
        _time.Advance(TimeSpan.FromSeconds(1));
        await room.AttachNodeAsync(nodeB, onB);
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).Players.Count(p => p.Connected) == 2, "both seats are back again");
        await KeepAttachingAsync(room, TimeSpan.FromSeconds(40), (nodeA, onA), (nodeB, onB));
        Assert.Equal(["p1", "p2"], (await room.GetViewAsync()).Players.Select(p => p.PlayerId));
    }

    [Fact]
    public async Task After_a_restart_no_seat_expires_before_its_node_could_re_attach()
    {
        var (nodeA, nodeB) = Nodes();
        var (roomId, room) = await TwoPlayerRoomAsync(nodeA, nodeB);

        // A stored disconnection older than the grace (the room was down meanwhile, or an earlier version
        // stored its re-attach deadline as one): node B's re-attach, a second after activation, still counts.
        await room.DisconnectAsync("p2", "c2");
        await RestartSiloAsync();
        _time.Advance(TimeSpan.FromMinutes(1));
        room = Grains.GetGrain<IGameRoomGrain>(roomId);
        (nodeA, nodeB) = Nodes();
        await room.AttachNodeAsync(nodeA, [new NodeConnection("c1", "p1")]);
        await SeatsHeldAfterDueTimersAsync(room, "p1", "p2");
        _time.Advance(TimeSpan.FromSeconds(1));
        await room.AttachNodeAsync(nodeB, [new NodeConnection("c2-again", "p2")]);

        await Poll.UntilAsync(async () => (await room.GetViewAsync()).Players.Count(p => p.Connected) == 2, "both seats are connected");
    }

    [Fact]
    public async Task A_connection_that_comes_back_after_the_match_ended_gets_the_results()
    {
        var otherNodeEvents = new RecordingNode();
        var node = new RoomNode("test-node", Grains.CreateObjectReference<IRoomNodeObserver>(_node));
        var otherNode = new RoomNode("other-node", Grains.CreateObjectReference<IRoomNodeObserver>(otherNodeEvents));
        var room = Grains.GetGrain<IGameRoomGrain>(Guid.NewGuid().ToString());
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, true, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", node);
        await room.JoinAsync(new RoomMember("p2", "Two"), "c2", otherNode, publicLobbyOnly: false);
        await room.SetReadyAsync("p1", true, true);
        var countdown = await room.SetReadyAsync("p2", true, true);
        _time.Advance(TimeSpan.FromMilliseconds(countdown.StartsAt!.Value - _time.GetUtcNow().ToUnixTimeMilliseconds()));
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match starts");

        // p2's connection drops; the match ends while the room knows no connection on the other node.
        await room.DisconnectAsync("p2", "c2");
        await room.FinishAsync("p1", 0, "c1");
        await room.FinishAsync("p2", 0, "c2");
        await Poll.UntilAsync(() => !_node.Results.IsEmpty, "results on the node that was attached");
        Assert.Empty(otherNodeEvents.Results);

        await room.AttachNodeAsync(otherNode, [new NodeConnection("c2-again", "p2")]);
        await Poll.UntilAsync(() => !otherNodeEvents.Results.IsEmpty, "results on the node that came back");
        Assert.Equal(["p1", "p2"], otherNodeEvents.Results.Single().Ranking.Select(r => r.PlayerId).Order());
    }
}
