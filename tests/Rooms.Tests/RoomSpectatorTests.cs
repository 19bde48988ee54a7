using Microsoft.Extensions.DependencyInjection;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// Spectators as the room keeps them: a repeated Spectate costs nothing, turning spectators off drops the
/// watchers (also against their node's re-attach), and the live-room list counts re-attached watchers.
/// Real silo and database, a <see cref="SiloClock"/> as clock (ticks come when the test moves it).
/// </summary>
public sealed class RoomSpectatorTests : SiloTest
{
    private static readonly TimeSpan OneTick = TimeSpan.FromMilliseconds(34);

    private readonly SiloClock _time = new();
    private readonly EventLogNode _players = new();
    private readonly EventLogNode _watchers = new();
    private RoomNode _playerNode = null!;
    private RoomNode _watcherNode = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _playerNode = new RoomNode("player-node", Grains.CreateObjectReference<IRoomNodeObserver>(_players));
        _watcherNode = new RoomNode("watcher-node", Grains.CreateObjectReference<IRoomNodeObserver>(_watchers));
    }

    protected override void ConfigureSilo(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    /// <summary>A running match of p1 (host) and p2, both on the player node.</summary>
    private async Task<(string RoomId, IGameRoomGrain Room)> RunningMatchAsync(bool isPrivate)
    {
        var roomId = Guid.NewGuid().ToString();
        var room = Grains.GetGrain<IGameRoomGrain>(roomId);
        await room.CreateAsync(new CreateRoomCommand("runner", "song", 60_000, 2, isPrivate, RawJson.EmptyObject), new RoomMember("p1", "One"), "c1", _playerNode);
        await room.JoinAsync(new RoomMember("p2", "Two"), "c2", _playerNode, publicLobbyOnly: false);
        await room.SetReadyAsync("p1", true, true);
        var countdown = await room.SetReadyAsync("p2", true, true);
        _time.Advance(TimeSpan.FromMilliseconds(countdown.StartsAt!.Value - _time.GetUtcNow().ToUnixTimeMilliseconds()));
        await Poll.UntilAsync(async () => (await room.GetViewAsync()).State == "running", "the match starts");
        return (roomId, room);
    }

    /// <summary>Moves the clock one tick on and waits for that tick on the player node.</summary>
    private async Task<TickEvent> NextTickAsync()
    {
        var seen = _players.Ticks.Count;
        _time.Advance(OneTick);
        await Poll.UntilAsync(() => _players.Ticks.Count > seen, "the next tick");
        return _players.Ticks[^1];
    }

    [Fact]
    public async Task A_repeated_spectate_from_a_watching_connection_only_returns_the_view()
    {
        var (_, room) = await RunningMatchAsync(isPrivate: true);
        await room.SpectateAsync("s1", _watcherNode);
        Assert.True((await NextTickAsync()).Full); // the new watcher's keyframe
        var statesBefore = _players.States.Count;

        for (var i = 0; i < 3; i++)
        {
            var again = await room.SpectateAsync("s1", _watcherNode);
            Assert.Equal(1, again.Room.Spectators);
        }

        // The next tick arrives after anything the repeats sent: no RoomState to the players, no forced keyframe.
        Assert.False((await NextTickAsync()).Full);
        Assert.Equal(statesBefore, _players.States.Count);
    }

    [Fact]
    public async Task Turning_spectators_off_drops_the_watchers_and_their_node_cannot_bring_them_back()
    {
        var (_, room) = await RunningMatchAsync(isPrivate: true);
        await room.SpectateAsync("s1", _watcherNode);
        await NextTickAsync();
        await Poll.UntilAsync(() => _watchers.Ticks.Count > 0, "the watcher's node gets ticks");

        var off = await room.UpdateSettingsAsync("p1", new SettingsUpdate(null, null, AllowSpectators: false, null));
        Assert.Equal(0, off.Spectators);

        // The watcher's node still announces its connection (its hub does not know it was dropped).
        await room.AttachNodeAsync(_watcherNode, [new NodeConnection("s1", null)]);
        Assert.Equal(0, (await room.GetViewAsync()).Spectators);

        // A tick, then a new watcher on the same node once spectators are back on: the node's log between the
        // RoomState that turned spectators off and the one of the new watcher holds no tick.
        await NextTickAsync();
        await room.UpdateSettingsAsync("p1", new SettingsUpdate(null, null, AllowSpectators: true, null));
        await room.SpectateAsync("s2", _watcherNode);
        static int TurnedOff(List<object> log) => log.FindIndex(e => e is RoomView { Settings.AllowSpectators: false });
        static int NewWatcher(List<object> log, int after) => after < 0 ? -1 : log.FindIndex(after, e => e is RoomView { Settings.AllowSpectators: true });
        await Poll.UntilAsync(() => NewWatcher([.. _watchers.Events], TurnedOff([.. _watchers.Events])) >= 0,
            "the watcher node hears that spectators were turned off, then of its new watcher");
        var log = _watchers.Events.ToList();
        var turnedOff = TurnedOff(log);
        var newWatcher = NewWatcher(log, turnedOff);
        Assert.DoesNotContain(log[turnedOff..newWatcher], e => e is TickEvent);
    }

    [Fact]
    public async Task Watchers_re_attached_by_their_node_are_counted_in_the_live_room_list_again()
    {
        var (roomId, room) = await RunningMatchAsync(isPrivate: false);
        var registry = Grains.GetGrain<ILiveRoomRegistryGrain>(ILiveRoomRegistryGrain.Key);
        async Task<int?> ListedSpectatorsAsync() => (await registry.ListAsync(null, 100)).SingleOrDefault(r => r.RoomId == roomId)?.Spectators;
        // One-way upserts sent while the registry was still activating were seen to arrive out of order; the
        // registry keeps the newest by version (LiveRoomRegistryTests), and the watcher comes once the start is listed.
        await Poll.UntilAsync(async () => (await registry.ListAsync(null, 100)).Any(r => r.RoomId == roomId && r.State == "running"), "the running room is listed");
        await room.SpectateAsync("s1", _watcherNode);
        await Poll.UntilAsync(async () => await ListedSpectatorsAsync() == 1, "the watcher is listed");

        // The watcher node stops re-attaching (9-12 s) while the player node goes on: its watcher is dropped...
        NodeConnection[] players = [new("c1", "p1"), new("c2", "p2")];
        for (var i = 0; i < 4; i++)
        {
            _time.Advance(RoomNode.ReattachInterval);
            await room.AttachNodeAsync(_playerNode, players);
            await room.GetViewAsync(); // the one-way attach and the due timers have run
        }

        await Poll.UntilAsync(async () => (await room.GetViewAsync()).Spectators == 0, "the silent node's watcher is dropped");
        await Poll.UntilAsync(async () => await ListedSpectatorsAsync() == 0, "the dropped watcher is no longer listed");

        // ...and its next re-attach brings it back, in the room and in the list.
        await room.AttachNodeAsync(_watcherNode, [new NodeConnection("s1", null)]);
        Assert.Equal(1, (await room.GetViewAsync()).Spectators);
        await Poll.UntilAsync(async () => await ListedSpectatorsAsync() == 1, "the re-attached watcher is listed again");
    }
}
