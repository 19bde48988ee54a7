using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// This node's end of the fan-out (docs/fanout.md): one Orleans observer per node receives each room event
/// once and hands it to the room's SignalR group, which serialises it once per protocol for all local
/// connections. It also remembers each local room's last seat states, so a connection that just joined or
/// resumed gets its first tick as a full keyframe without asking the room.
/// </summary>
public sealed class RoomFanout(IGrainFactory grains, IHubContext<GameHub> hub, RoomInputSchedule inputs, ILogger<RoomFanout> logger) : BackgroundService, IRoomNodeObserver
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
            if (room.Connections.Count == 0 && !room.Removed)
            {
                room.Removed = true;
                // Only this entry: a newer one for the same room may have replaced it already.
                _rooms.TryRemove(KeyValuePair.Create(roomId, room));
            }
        }
    }

    public Task OnTickAsync(TickEvent tick)
    {
        inputs.OnTick(tick.RoomId); // the room's tick phase, for timing this node's next input batch
        if (!_rooms.TryGetValue(tick.RoomId, out var room))
        {
            return Task.CompletedTask;
        }

        string[]? pending = null;
        TickEvent? keyframe = null;
        lock (room)
        {
            HubMetrics.MessagesOut(room.Connections.Count);
            room.Apply(tick);
            if (room.Pending.Count > 0)
            {
                pending = [.. room.Pending];
                room.Pending.Clear();
                keyframe = tick.Full ? tick : tick with { Full = true, Players = room.Keyframe() };
            }
        }

        if (pending is null)
        {
            Send(hub.Clients.Group(room.Group), TickEvent, tick);
        }
        else
        {
            Send(hub.Clients.GroupExcept(room.Group, pending), TickEvent, tick);
            Send(hub.Clients.Clients(pending), TickEvent, keyframe!);
        }

        return Task.CompletedTask;
    }

    public Task OnRoomStateAsync(RoomView room) => ToGroup(room.RoomId, "RoomState", room);

    public Task OnCountdownAsync(CountdownStarted countdown) => ToGroup(countdown.RoomId, "Countdown", countdown);

    public Task OnStemsAsync(StemsEvent stems) => ToGroup(stems.RoomId, "Stems", stems);

    public Task OnEmoteAsync(EmoteEvent emote) => ToGroup(emote.RoomId, "Emote", emote);

    public Task OnPlayerLeftAsync(PlayerLeftEvent left) => ToGroup(left.RoomId, "PlayerLeft", left);

    public Task OnResultsAsync(ResultsEvent results) => ToGroup(results.RoomId, "Results", results);

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
