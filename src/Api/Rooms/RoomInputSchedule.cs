using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// What this node owes each room and when to send it: the latest input per player (so memory is bounded
/// by the seated players), sent as one batch per tick, timed to land <see cref="Lead"/> before the room's
/// next tick. The node learns each room's tick phase from the ticks it relays, so an input waits at most
/// one tick period (plus the lead) to be relayed, instead of a flush period on a clock of its own and
/// then a tick period. Thread-safe; timestamps are <see cref="TimeProvider.GetTimestamp"/> values.
/// </summary>
public sealed class RoomInputSchedule(TimeProvider time)
{
    public static readonly TimeSpan TickPeriod = TimeSpan.FromTicks(TimeSpan.TicksPerSecond / 30);

    /// <summary>
    /// How long before a room's expected tick its batch is due: the one-way call has to reach the room
    /// first, also when the node or the silo is busy. An input that arrives later waits for the tick after.
    /// </summary>
    public static readonly TimeSpan Lead = TimeSpan.FromMilliseconds(8);

    /// <summary>A room without input for this long is forgotten; its next input adds it again.</summary>
    public static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, RoomInputs> _rooms = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public void Offer(string roomId, string playerId, in PlayerInputState input)
    {
        lock (_lock)
        {
            if (!_rooms.TryGetValue(roomId, out var room))
            {
                _rooms[roomId] = room = new RoomInputs();
            }

            room.Latest[playerId] = input;
            room.LastInputAt = time.GetTimestamp();
        }
    }

    /// <summary>A tick of the room reached this node: its next tick is about one period away.</summary>
    public void OnTick(string roomId)
    {
        lock (_lock)
        {
            if (_rooms.TryGetValue(roomId, out var room))
            {
                room.DueAt = time.GetTimestamp() + ToTimestamp(TickPeriod - Lead);
            }
        }
    }

    /// <summary>
    /// Takes the batches that are due: a room whose phase is known when its aim is reached (then aims one
    /// period later, until the next relayed tick corrects it); a room whose phase is not known yet at once,
    /// then one period later.
    /// </summary>
    public List<(string RoomId, InputBatch Batch)> TakeDue()
    {
        var now = time.GetTimestamp();
        var due = new List<(string, InputBatch)>();
        lock (_lock)
        {
            foreach (var (roomId, room) in _rooms)
            {
                if (room.Latest.Count == 0)
                {
                    if (now - room.LastInputAt >= ToTimestamp(IdleAfter))
                    {
                        _rooms.Remove(roomId); // allowed while enumerating a Dictionary
                    }

                    continue;
                }

                if (room.DueAt is not { } aim)
                {
                    room.DueAt = now + ToTimestamp(TickPeriod); // one batch per period until a tick gives the phase
                }
                else if (now < aim)
                {
                    continue;
                }
                else
                {
                    room.DueAt = aim + ToTimestamp(TickPeriod) * (1 + (now - aim) / ToTimestamp(TickPeriod));
                }

                due.Add((roomId, new InputBatch([.. room.Latest])));
                room.Latest.Clear();
            }
        }

        return due;
    }

    private long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);

    private sealed class RoomInputs
    {
        public Dictionary<string, PlayerInputState> Latest { get; } = new(StringComparer.Ordinal);

        public long LastInputAt { get; set; }

        /// <summary>When the next batch is due; null for a room added since its last batch, which is due at once.</summary>
        public long? DueAt { get; set; }
    }
}
