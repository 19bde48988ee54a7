using Microsoft.Extensions.Time.Testing;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

public sealed class SiloClockTests
{
    /// <summary>What hung the test host: a wait for a deadline between two whole milliseconds, the way Orleans waits for its jittered ones.</summary>
    [Fact]
    public async Task A_move_that_stops_the_clock_short_of_a_deadline_between_milliseconds_returns()
    {
        FakeTimeProvider clock = new SiloClock();
        var deadline = clock.GetUtcNow() + TimeSpan.FromMilliseconds(1.5);
        var waiting = WaitUntilAsync(clock, deadline);

        // The wait's timer is due at the whole millisecond (Task.Delay counts whole milliseconds) and finds half a
        // millisecond left, which Task.Delay does not wait for: it asks the clock again until the next move.
        await Task.Run(() => clock.Advance(TimeSpan.FromMilliseconds(1))).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(waiting.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task WaitUntilAsync(TimeProvider clock, DateTimeOffset deadline)
    {
        while (deadline - clock.GetUtcNow() is var left && left > TimeSpan.Zero)
        {
            await Task.Delay(left, clock).ConfigureAwait(false);
        }
    }
}
