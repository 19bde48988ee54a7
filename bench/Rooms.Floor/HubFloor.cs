using System.Collections.Concurrent;
using MessagePack;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Rooms;

namespace PlayMusic.Rooms.Floor;

/// <summary>The real hub's input argument (src/Api/Rooms/HubArguments.cs), so the bytes on the wire are the same.</summary>
[MessagePackObject]
public sealed class FloorInput
{
    [Key("seq")] public long Seq { get; set; }
    [Key("songTimeMs")] public long SongTimeMs { get; set; }
    [Key("x")] public double X { get; set; }
    [Key("y")] public double Y { get; set; }
    [Key("z")] public double Z { get; set; }
    [Key("lane")] public long Lane { get; set; }
    [Key("anim")] public string? Anim { get; set; }
    [Key("score")] public long Score { get; set; }
    [Key("combo")] public long Combo { get; set; }
}

/// <summary>Join puts a connection in its room's group; SendInput keeps a player seat's latest input.</summary>
public sealed class FloorHub(HubFloorRooms rooms) : Hub
{
    public async Task Join(int room, int seat)
    {
        Context.Items["room"] = rooms.Get(room);
        Context.Items["seat"] = seat;
        await Groups.AddToGroupAsync(Context.ConnectionId, rooms.Get(room).Group);
    }

    public void SendInput(FloorInput input)
    {
        if (Context.Items["room"] is HubFloorRoom room && Context.Items["seat"] is int seat and < 2)
        {
            room.Apply(seat, input);
        }
    }
}

public sealed class HubFloorRooms
{
    private readonly ConcurrentDictionary<int, HubFloorRoom> _rooms = new();

    public HubFloorRoom Get(int room) => _rooms.GetOrAdd(room, id => new HubFloorRoom($"room:{id}"));

    /// <summary>One group send per room, like the real node's fan-out (SignalR serialises it once per protocol).</summary>
    public void Tick(IHubContext<FloorHub> hub)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var room in _rooms.Values)
        {
            _ = hub.Clients.Group(room.Group).SendAsync("Tick", room.NextTick(now));
        }
    }
}

/// <summary>The latest input of each player seat, and which changed since the last tick (as the real room relays).</summary>
public sealed class HubFloorRoom(string group)
{
    private const int KeyframeEvery = 30;
    private readonly SeatTick?[] _latest = new SeatTick?[2];
    private readonly bool[] _dirty = new bool[2];
    private readonly long _started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private long _tick;

    public string Group { get; } = group;

    public void Apply(int seat, FloorInput input)
    {
        lock (_latest)
        {
            _latest[seat] = new SeatTick(seat, input.Seq, (float)input.X, (float)input.Y, (float)input.Z, (int)input.Lane, input.Anim ?? "", input.Score, input.Combo, true);
            _dirty[seat] = true;
        }
    }

    public TickEvent NextTick(long now)
    {
        lock (_latest)
        {
            var tick = ++_tick;
            var full = tick % KeyframeEvery == 0;
            var players = _latest.Where((s, i) => s is not null && (full || _dirty[i])).Select(s => s!.Value).ToArray();
            Array.Clear(_dirty);
            return new TickEvent(Group, tick, now, now - _started, full, players);
        }
    }
}
