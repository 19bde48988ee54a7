using System.Diagnostics.Metrics;

namespace PlayMusic.Grains.Diagnostics;

/// <summary>
/// A running total read by an observable instrument: <c>/metrics</c> lists it (at 0) from the instrument's
/// creation rather than from the first event, so "zero" and "absent" stay apart.
/// </summary>
public sealed class ObservedCount
{
    private long _value;

    public long Value => Volatile.Read(ref _value);

    public void Add(long amount) => Interlocked.Add(ref _value, amount);

    public ObservableCounter<long> CounterOn(Meter meter, string name, string? unit, string description) =>
        meter.CreateObservableCounter(name, () => Value, unit, description);

    public ObservableUpDownCounter<long> UpDownCounterOn(Meter meter, string name, string? unit, string description) =>
        meter.CreateObservableUpDownCounter(name, () => Value, unit, description);
}
