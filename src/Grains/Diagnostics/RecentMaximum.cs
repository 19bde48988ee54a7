using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Diagnostics;

/// <summary>
/// The largest value recorded in the current or the previous window, read by an observable gauge. Unlike a
/// histogram, the gauge is listed (at 0) before the first value, and a spike stays visible for at least one whole
/// window, whatever the scrape interval and however many readers collect it.
/// </summary>
/// <remarks>
/// Every room of a silo records into one instance twice per tick, and ticks fall on one grid across rooms: a record
/// takes the lock only to roll the window (once per window), and otherwise raises the maximum with a compare-exchange.
/// Values are kept as the bits of non-negative doubles, which order as the values do.
/// </remarks>
public sealed class RecentMaximum(TimeSpan window, TimeProvider time)
{
    private readonly Lock _rolling = new();
    private long _windowStart = time.GetTimestamp();
    private long _currentBits;
    private long _previousBits;

    public void Record(double value)
    {
        RollIfDue();
        var bits = BitConverter.DoubleToInt64Bits(Math.Max(0, value));
        for (var seen = Volatile.Read(ref _currentBits); bits > seen;)
        {
            var was = Interlocked.CompareExchange(ref _currentBits, bits, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    public double Read()
    {
        RollIfDue();
        return BitConverter.Int64BitsToDouble(Math.Max(Volatile.Read(ref _currentBits), Volatile.Read(ref _previousBits)));
    }

    public ObservableGauge<double> GaugeOn(Meter meter, string name, string? unit, string description) =>
        meter.CreateObservableGauge(name, Read, unit, description);

    private void RollIfDue()
    {
        if (time.GetElapsedTime(Volatile.Read(ref _windowStart)) < window)
        {
            return;
        }

        lock (_rolling)
        {
            var elapsed = time.GetElapsedTime(_windowStart);
            if (elapsed < window)
            {
                return;
            }

            var ended = Interlocked.Exchange(ref _currentBits, 0);
            // A window with no record in it ends the previous one's maximum too.
            Volatile.Write(ref _previousBits, elapsed < 2 * window ? ended : 0);
            Volatile.Write(ref _windowStart, time.GetTimestamp());
        }
    }
}
