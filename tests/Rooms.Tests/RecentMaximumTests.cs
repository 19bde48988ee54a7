using Microsoft.Extensions.Time.Testing;
using PlayMusic.Grains.Diagnostics;

namespace PlayMusic.Rooms.Tests;

/// <summary>The tick gauges' window: a spike stays on them for one to two windows, then goes.</summary>
public sealed class RecentMaximumTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    [Fact]
    public void Reads_zero_before_anything_is_recorded()
    {
        Assert.Equal(0, new RecentMaximum(Window, new FakeTimeProvider()).Read());
    }

    [Fact]
    public void A_spike_is_read_through_the_next_window_and_then_dropped()
    {
        var time = new FakeTimeProvider();
        var maximum = new RecentMaximum(Window, time);
        maximum.Record(40);
        maximum.Record(3);
        Assert.Equal(40, maximum.Read());

        time.Advance(Window);
        maximum.Record(5);
        Assert.Equal(40, maximum.Read());

        time.Advance(Window);
        Assert.Equal(5, maximum.Read());

        time.Advance(Window);
        Assert.Equal(0, maximum.Read());
    }

    [Fact]
    public void A_window_without_records_clears_the_one_before_it()
    {
        var time = new FakeTimeProvider();
        var maximum = new RecentMaximum(Window, time);
        maximum.Record(40);
        time.Advance(2 * Window);
        Assert.Equal(0, maximum.Read());
    }
}
