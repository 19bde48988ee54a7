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

    private static long _nodeMessages;
    private static long _ticks;

    /// <summary>
    /// Counts and the gauge are observed rather than added to, so <c>/metrics</c> shows them (at 0) from the
    /// start, not from the first match; <see cref="Publish"/> creates them when the silo starts.
    /// </summary>
    static RoomMetrics()
    {
        // Room→node messages: one per node holding the room's connections per tick (see docs/fanout.md).
        Meter.CreateObservableCounter("playmusic.room.node_messages", () => Volatile.Read(ref _nodeMessages), "{message}", "Tick messages sent from rooms to API nodes");
        Meter.CreateObservableCounter("playmusic.room.ticks", () => Volatile.Read(ref _ticks), "{tick}", "Ticks produced by running rooms");
        Meter.CreateObservableGauge("playmusic.room.active", () => Volatile.Read(ref _activeRooms), "{room}", "Rooms whose 30 Hz loop runs on this silo");
    }

    /// <summary>Runs the static constructor: the instruments exist before any room does.</summary>
    public static void Publish()
    {
    }

    public static void TickSent(int nodeMessages)
    {
        Interlocked.Increment(ref _ticks);
        Interlocked.Add(ref _nodeMessages, nodeMessages);
    }

    public static void LoopStarted() => Interlocked.Increment(ref _activeRooms);

    public static void LoopStopped() => Interlocked.Decrement(ref _activeRooms);
}
