using System.Collections.Concurrent;
using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// Coalesces this node's validated inputs per room (latest per player wins, so memory is bounded by the
/// seated players) and flushes each room's batch as one one-way grain call per tick period: a player's
/// SendInput never waits on the room, and the room gets at most 30 calls per second per node.
/// </summary>
public sealed class RoomInputBatcher(IGrainFactory grains) : BackgroundService
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromTicks(TimeSpan.TicksPerSecond / 30);

    private readonly ConcurrentDictionary<string, RoomInputs> _rooms = new();

    public void Offer(string roomId, string playerId, in PlayerInputState input)
    {
        while (true)
        {
            var room = _rooms.GetOrAdd(roomId, _ => new RoomInputs());
            lock (room)
            {
                if (!room.Removed)
                {
                    room.Latest[playerId] = input;
                    return;
                }
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var (roomId, room) in _rooms)
            {
                KeyValuePair<string, PlayerInputState>[] inputs;
                lock (room)
                {
                    if (room.Latest.Count == 0)
                    {
                        // Idle for a whole period: forget the room (a later input adds it again).
                        room.Removed = true;
                        _rooms.TryRemove(roomId, out _);
                        continue;
                    }

                    inputs = [.. room.Latest];
                    room.Latest.Clear();
                }

                grains.GetGrain<IGameRoomGrain>(roomId).ApplyInputsAsync(new InputBatch(inputs)).Ignore();
            }
        }
    }

    private sealed class RoomInputs
    {
        public Dictionary<string, PlayerInputState> Latest { get; } = [];

        public bool Removed { get; set; }
    }
}
