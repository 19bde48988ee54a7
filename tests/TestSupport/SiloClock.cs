using Microsoft.Extensions.Time.Testing;

namespace PlayMusic.TestSupport;

/// <summary>
/// The fake clock for a silo, starting now (whole milliseconds), on which a <c>Task.Delay</c> ends on the thread pool
/// instead of inside <see cref="FakeTimeProvider.Advance(TimeSpan)"/>. Orleans waits for its jittered deadlines (membership
/// refresh, liveness) in a loop of <c>Task.Delay</c>s, and <c>Task.Delay</c> counts whole milliseconds: its timer
/// fires at the millisecond before such a deadline, and for the fraction left it does not wait at all, so the loop
/// asks the clock again until the clock moves. Fired inside <c>Advance</c>, that loop ran on the test's own thread
/// and the clock could never move: the test host hung (rarely: a move had to stop at exactly that millisecond).
/// Fired outside, <c>Advance</c> returns and the test's next move ends the wait.
/// </summary>
public sealed class SiloClock() : FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()))
{
    /// <summary>
    /// A <c>Task.Delay</c>'s timer (its state is the delay's task) fires on the thread pool; every other timer, a grain
    /// timer's among them, still fires inside <c>Advance</c>, so a grain call made after a move is ordered after the
    /// ticks that move made due.
    /// </summary>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        base.CreateTimer(state is Task ? s => ThreadPool.UnsafeQueueUserWorkItem(callback.Invoke, s, preferLocal: false) : callback, state, dueTime, period);
}
