namespace PlayMusic.Grains.Rooms;

/// <summary>
/// A drift-free schedule of ticks at a fixed rate: tick n is due at start + n/rate, computed from the
/// start rather than from the previous tick, so callback time and timer latency never accumulate.
/// When the loop falls more than <see cref="MaxBurst"/> ticks behind (a pause), it skips ahead instead
/// of firing a burst.
/// </summary>
public sealed class FixedTimestep(DateTimeOffset start, int ticksPerSecond)
{
    public const int MaxBurst = 5;

    /// <summary>The index of the tick that runs next.</summary>
    public long Next { get; private set; }

    public DateTimeOffset IdealTime(long tick) => start + TimeSpan.FromTicks(tick * TimeSpan.TicksPerSecond / ticksPerSecond);

    /// <summary>Claims the tick due at or before <paramref name="now"/>; returns its index and how late it runs.</summary>
    public (long Tick, TimeSpan Lag) Begin(DateTimeOffset now)
    {
        var behind = (now - IdealTime(Next)).Ticks * ticksPerSecond / TimeSpan.TicksPerSecond;
        if (behind > MaxBurst)
        {
            Next += behind;
        }

        var tick = Next++;
        return (tick, now - IdealTime(tick));
    }

    /// <summary>
    /// How long to wait from <paramref name="now"/> until the next tick is due (never negative), rounded up
    /// to whole milliseconds: timers count whole milliseconds, and a timer that fires a fraction early finds
    /// its due time still ahead and waits again for zero milliseconds (with a fake clock, forever).
    /// </summary>
    public TimeSpan DelayUntilNext(DateTimeOffset now)
    {
        var delay = IdealTime(Next) - now;
        return delay > TimeSpan.Zero
            ? TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds))
            : TimeSpan.Zero;
    }
}
