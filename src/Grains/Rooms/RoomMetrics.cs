using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Rooms;

/// <summary>The rooms' instruments on the project meter ("PlayMusic").</summary>
public static class RoomMetrics
{
    private static readonly Meter Meter = new("PlayMusic");

    /// <summary>Fine buckets around one tick period (33 ms), so p99 lag of a few ms is visible.</summary>
    private static readonly InstrumentAdvice<double> TickBuckets = new()
    {
        HistogramBucketBoundaries = [0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 33, 50, 100, 250, 1000],
    };

    private static int _activeRooms;

    /// <summary>How late each tick ran against its ideal time (start + n × 1/30 s).</summary>
    public static readonly Histogram<double> TickLag = Meter.CreateHistogram<double>(
        "playmusic.room.tick.lag", "ms", "Lateness of a room tick against its ideal time", advice: TickBuckets);

    public static readonly Histogram<double> TickDuration = Meter.CreateHistogram<double>(
        "playmusic.room.tick.duration", "ms", "Time a room spends building and sending one tick", advice: TickBuckets);

    /// <summary>Room→node messages: one per node holding the room's connections per tick (see docs/fanout.md).</summary>
    public static readonly Counter<long> NodeMessages = Meter.CreateCounter<long>(
        "playmusic.room.node_messages", "{message}", "Tick messages sent from rooms to API nodes");

    public static readonly Counter<long> Ticks = Meter.CreateCounter<long>(
        "playmusic.room.ticks", "{tick}", "Ticks produced by running rooms");

    static RoomMetrics() =>
        Meter.CreateObservableGauge("playmusic.room.active", () => Volatile.Read(ref _activeRooms), "{room}", "Rooms whose 30 Hz loop runs on this silo");

    public static void LoopStarted() => Interlocked.Increment(ref _activeRooms);

    public static void LoopStopped() => Interlocked.Decrement(ref _activeRooms);
}
