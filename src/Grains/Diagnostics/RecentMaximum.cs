using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Diagnostics;

/// <summary>
/// The largest value recorded in the current or the previous window, read by an observable gauge. Unlike a
/// histogram, the gauge is listed (at 0) before the first value, and a spike stays visible for at least one whole
/// window, whatever the scrape interval and however many readers collect it.
/// </summary>
public sealed class RecentMaximum(TimeSpan window, TimeProvider time)
{
    private readonly Lock _lock = new();
    private long _windowStart = time.GetTimestamp();
    private double _current;
    private double _previous;

    public void Record(double value)
    {
        lock (_lock)
        {
            Roll();
            _current = Math.Max(_current, value);
        }
    }

    public double Read()
    {
        lock (_lock)
        {
            Roll();
            return Math.Max(_current, _previous);
        }
    }

    public ObservableGauge<double> GaugeOn(Meter meter, string name, string? unit, string description) =>
        meter.CreateObservableGauge(name, Read, unit, description);

    private void Roll()
    {
        var elapsed = time.GetElapsedTime(_windowStart);
        if (elapsed < window)
        {
            return;
        }

        // A window with no record in it ends the previous one's maximum too.
        _previous = elapsed < 2 * window ? _current : 0;
        _current = 0;
        _windowStart = time.GetTimestamp();
    }
}
