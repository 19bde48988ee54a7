using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// This node's end of the fan-out (docs/fanout.md): one Orleans observer per node receives each room event
/// once and hands it to the room's local connections, serialised once per protocol: ticks written to each
/// connection (see <see cref="OnTickAsync"/>), the rarer events through the room's SignalR group. It also
/// remembers each local room's last seat states, so a connection that just joined, resumed or caught up gets
/// its next tick as a full keyframe without asking the room.
/// </summary>
public sealed class RoomFanout(
    IGrainFactory grains, IHubContext<GameHub> hub, HubConnections connections, RoomInputSchedule inputs, ILogger<RoomFanout> logger)
    : BackgroundService, IRoomNodeObserver
{
    public const string TickEvent = "Tick";

    private readonly ConcurrentDictionary<string, LocalRoom> _rooms = new();
    private readonly string _nodeId = Guid.NewGuid().ToString("N");
    private RoomNode? _node;

    /// <summary>This node as rooms address it (one observer reference for the node's lifetime).</summary>
    public RoomNode Node => LazyInitializer.EnsureInitialized(ref _node, () => new RoomNode(_nodeId, grains.CreateObjectReference<IRoomNodeObserver>(this)));

    public static string GroupOf(string roomId) => "room:" + roomId;

    /// <summary>Records a local connection of the room (before the room is told, so no tick slips past it) and owes it a keyframe.</summary>
    public void Track(string roomId, string connectionId, string? playerId)
    {
        while (true)
        {
            var room = _rooms.GetOrAdd(roomId, id => new LocalRoom(GroupOf(id)));
            lock (room)
            {
                // Untrack of the room's last connection may have dropped this entry between GetOrAdd and
                // the lock: a connection added to it would get no ticks and never be announced.
                if (room.Removed)
                {
                    continue;
                }

                room.Connections[connectionId] = playerId;
                room.Pending.Add(connectionId);
                return;
            }
        }
    }

    public void Untrack(string roomId, string connectionId)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return;
        }

        lock (room)
        {
            room.Connections.Remove(connectionId);
            room.Pending.Remove(connectionId);
            room.Writing.Remove(connectionId);
            if (room.Connections.Count == 0 && !room.Removed)
            {
                room.Removed = true;
                // Only this entry: a newer one for the same room may have replaced it already.
                _rooms.TryRemove(KeyValuePair.Create(roomId, room));
            }
        }
    }

    /// <summary>
    /// Written to each local connection here rather than through the room's SignalR group, so that a connection
    /// still flushing earlier writes (a slow phone link, a socket nobody reads) is skipped instead of queueing
    /// every tick until its player sees the room seconds behind: it is owed a keyframe, which it gets on the
    /// first tick after it has caught up. Each message is still serialised once per protocol.
    /// </summary>
    public Task OnTickAsync(TickEvent tick)
    {
        inputs.OnTick(tick.RoomId); // the room's tick phase, for timing this node's next input batch
        if (!_rooms.TryGetValue(tick.RoomId, out var room))
        {
            return Task.CompletedTask;
        }

        var delta = new SerializedHubMessage(new InvocationMessage(TickEvent, [tick]));
        SerializedHubMessage? keyframe = null;
        int sent = 0, skipped = 0;
        lock (room)
        {
            room.Apply(tick);
            foreach (var connectionId in room.Connections.Keys)
            {
                if (room.Writing.Contains(connectionId))
                {
                    room.Pending.Add(connectionId);
                    skipped++;
                    continue;
                }

                if (!connections.TryGet(connectionId, out var connection))
                {
                    continue;
                }

                var message = room.Pending.Remove(connectionId)
                    ? keyframe ??= new SerializedHubMessage(new InvocationMessage(TickEvent, [tick.Full ? tick : tick with { Full = true, Players = room.Keyframe() }]))
                    : delta;
                var write = connection.WriteAsync(message);
                sent++;
                if (!write.IsCompletedSuccessfully)
                {
                    room.Writing.Add(connectionId);
                    _ = WrittenAsync(room, connectionId, write);
                }
            }
        }

        HubMetrics.MessagesOut(sent);
        HubMetrics.TickSkipped(skipped);
        return Task.CompletedTask;
    }

    public async Task OnRoomStateAsync(RoomView room)
    {
        await ToGroup(room.RoomId, "RoomState", room);
        if (!room.Settings.AllowSpectators)
        {
            await DropWatchersAsync(room.RoomId);
        }
    }

    public Task OnCountdownAsync(CountdownStarted countdown) => ToGroup(countdown.RoomId, "Countdown", countdown);

    public Task OnStemsAsync(StemsEvent stems) => ToGroup(stems.RoomId, "Stems", stems);

    public Task OnEmoteAsync(EmoteEvent emote) => ToGroup(emote.RoomId, "Emote", emote);

    public Task OnPlayerLeftAsync(PlayerLeftEvent left) => ToGroup(left.RoomId, "PlayerLeft", left);

    public Task OnResultsAsync(ResultsEvent results) => ToGroup(results.RoomId, "Results", results);

    /// <summary>Another connection resumed the player's seat: the player's other connections here leave the room quietly.</summary>
    public async Task OnSeatTakenAsync(string roomId, string playerId, string connectionId)
    {
        foreach (var displaced in await DetachAsync(roomId, c => c.Value == playerId && c.Key != connectionId))
        {
            if (connections.TryGet(displaced, out var connection))
            {
                GameHub.ForgetSeat(connection, roomId);
            }
        }
    }

    /// <summary>Re-announces local connections, so a room that deactivated while idle knows them again.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RoomNode.ReattachInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var (roomId, room) in _rooms)
            {
                NodeConnection[] connections;
                lock (room)
                {
                    connections = [.. room.Connections.Select(c => new NodeConnection(c.Key, c.Value))];
                }

                grains.GetGrain<IGameRoomGrain>(roomId).AttachNodeAsync(Node, connections).Ignore();
            }
        }
    }

    /// <summary>
    /// The host turned spectators off, and the room dropped its watchers: this node stops relaying to its own
    /// (they have just been sent the RoomState that says why). Their hub session stays; leaving is harmless.
    /// </summary>
    private Task DropWatchersAsync(string roomId) => DetachAsync(roomId, c => c.Value is null);

    /// <summary>Stops relaying the room to its local connections that match (connection id → seated player or null); returns them.</summary>
    private async Task<string[]> DetachAsync(string roomId, Func<KeyValuePair<string, string?>, bool> which)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            return [];
        }

        string[] detached;
        lock (room)
        {
            detached = [.. room.Connections.Where(which).Select(c => c.Key)];
        }

        foreach (var connectionId in detached)
        {
            Untrack(roomId, connectionId);
            await hub.Groups.RemoveFromGroupAsync(connectionId, room.Group);
        }

        return detached;
    }

    private async Task WrittenAsync(LocalRoom room, string connectionId, ValueTask write)
    {
        try
        {
            await write;
        }
        catch (Exception e)
        {
            // A closed connection: the hub's disconnect untracks it.
            logger.LogDebug(e, "Writing a tick to connection {ConnectionId} failed", connectionId);
        }

        lock (room)
        {
            room.Writing.Remove(connectionId);
        }
    }

    private Task ToGroup<T>(string roomId, string method, T payload)
    {
        if (_rooms.TryGetValue(roomId, out var room))
        {
            lock (room)
            {
                HubMetrics.MessagesOut(room.Connections.Count);
            }
        }

        Send(hub.Clients.Group(GroupOf(roomId)), method, payload);
        return Task.CompletedTask;
    }

    private void Send<T>(IClientProxy clients, string method, T payload) =>
        clients.SendAsync(method, payload).ContinueWith(
            t => logger.LogWarning(t.Exception, "Sending {Method} failed", method),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private sealed class LocalRoom(string group)
    {
        private readonly SortedDictionary<int, SeatTick> _seats = [];

        public string Group { get; } = group;

        public Dictionary<string, string?> Connections { get; } = [];

        public HashSet<string> Pending { get; } = [];

        /// <summary>Connections whose last tick write has not flushed yet: they skip ticks until it has.</summary>
        public HashSet<string> Writing { get; } = [];

        /// <summary>Set (under the lock) when its last connection left and it was dropped from the node's rooms.</summary>
        public bool Removed { get; set; }

        public void Apply(TickEvent tick)
        {
            if (tick.Full)
            {
                _seats.Clear();
            }

            foreach (var seat in tick.Players)
            {
                _seats[seat.Seat] = seat;
            }
        }

        public SeatTick[] Keyframe() => [.. _seats.Values];
    }
}
