using System.Diagnostics.Metrics;
using PlayMusic.Grains.Diagnostics;

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

    private static readonly ObservedCount ActiveRooms = new();
    private static readonly ObservedCount NodeMessages = new();
    private static readonly ObservedCount Ticks = new();

    /// <summary>The window of the tick gauges: a lag spike stays on them for 10 to 20 s.</summary>
    private static readonly TimeSpan RecentWindow = TimeSpan.FromSeconds(10);

    private static readonly RecentMaximum RecentLag = new(RecentWindow, TimeProvider.System);
    private static readonly RecentMaximum RecentDuration = new(RecentWindow, TimeProvider.System);

    /// <summary>How late each tick ran against its ideal time (start + n × 1/30 s).</summary>
    private static readonly Histogram<double> TickLag = Meter.CreateHistogram<double>(
        "playmusic.room.tick.lag", "ms", "Lateness of a room tick against its ideal time", advice: TickBuckets);

    private static readonly Histogram<double> TickDuration = Meter.CreateHistogram<double>(
        "playmusic.room.tick.duration", "ms", "Time a room spends building and sending one tick", advice: TickBuckets);

    /// <summary>
    /// Counts are observed rather than added to, so <c>/metrics</c> shows them (at 0) from the
    /// start, not from the first match; <see cref="Publish"/> creates them when the silo starts.
    /// </summary>
    static RoomMetrics()
    {
        // Room→node messages: one per node holding the room's connections per tick (see docs/fanout.md).
        NodeMessages.CounterOn(Meter, "playmusic.room.node_messages", "{message}", "Tick messages sent from rooms to API nodes");
        Ticks.CounterOn(Meter, "playmusic.room.ticks", "{tick}", "Ticks produced by running rooms");
        ActiveRooms.UpDownCounterOn(Meter, "playmusic.room.active", "{room}", "Rooms whose 30 Hz loop runs on this silo");
        // The histograms above have no series before the first tick; these gauges are there (at 0) from the start.
        RecentLag.GaugeOn(Meter, "playmusic.room.tick.lag.max", "ms", "Largest room tick lateness in the last 10 to 20 s");
        RecentDuration.GaugeOn(Meter, "playmusic.room.tick.duration.max", "ms", "Longest room tick in the last 10 to 20 s");
    }

    /// <summary>Runs the static constructor: the instruments exist before any room does.</summary>
    public static void Publish()
    {
    }

    public static void TickBegan(TimeSpan lag)
    {
        TickLag.Record(lag.TotalMilliseconds);
        RecentLag.Record(lag.TotalMilliseconds);
    }

    public static void TickEnded(TimeSpan duration)
    {
        TickDuration.Record(duration.TotalMilliseconds);
        RecentDuration.Record(duration.TotalMilliseconds);
    }

    public static void TickSent(int nodeMessages)
    {
        Ticks.Add(1);
        NodeMessages.Add(nodeMessages);
    }

    public static void LoopStarted() => ActiveRooms.Add(1);

    public static void LoopStopped() => ActiveRooms.Add(-1);
}
