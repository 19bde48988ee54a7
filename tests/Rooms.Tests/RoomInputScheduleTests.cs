using Microsoft.Extensions.Time.Testing;
using PlayMusic.Api.Rooms;

namespace PlayMusic.Rooms.Tests;

/// <summary>When a node sends a room's inputs: once per tick, aimed just before the room's next tick as the relayed ticks show it.</summary>
public sealed class RoomInputScheduleTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly RoomInputSchedule _schedule;

    public RoomInputScheduleTests() => _schedule = new RoomInputSchedule(_time);

    [Fact]
    public void Before_any_tick_a_room_is_sent_at_once_then_once_per_period_with_the_latest_input_per_player()
    {
        _schedule.Offer("r1", "ann", Input(1));
        var first = Assert.Single(_schedule.TakeDue());
        Assert.Equal("r1", first.RoomId);
        Assert.Equal(1, Assert.Single(first.Batch.Inputs).Value.Seq);

        _schedule.Offer("r1", "ann", Input(2));
        _schedule.Offer("r1", "ann", Input(3)); // replaces seq 2
        _schedule.Offer("r1", "bob", Input(7));
        _time.Advance(RoomInputSchedule.TickPeriod - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_schedule.TakeDue());

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var second = Assert.Single(_schedule.TakeDue());
        Assert.Equal([("ann", 3L), ("bob", 7L)], second.Batch.Inputs.Select(i => (i.Key, i.Value.Seq)).Order());
        Assert.Empty(_schedule.TakeDue()); // nothing new
    }

    [Fact]
    public void After_a_tick_the_batch_is_due_the_lead_before_the_next_tick_and_every_period_after()
    {
        _schedule.Offer("r1", "ann", Input(1));
        _schedule.TakeDue();
        _schedule.OnTick("r1");
        var aim = RoomInputSchedule.TickPeriod - RoomInputSchedule.Lead;

        _time.Advance(TimeSpan.FromMilliseconds(1));
        _schedule.Offer("r1", "ann", Input(2));
        _time.Advance(aim - TimeSpan.FromMilliseconds(2));
        Assert.Empty(_schedule.TakeDue()); // 1 ms before the aim

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, Assert.Single(Assert.Single(_schedule.TakeDue()).Batch.Inputs).Value.Seq);

        // No tick relayed meanwhile: the next batch aims one period later.
        _schedule.Offer("r1", "ann", Input(3));
        _time.Advance(RoomInputSchedule.TickPeriod - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_schedule.TakeDue());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single(_schedule.TakeDue());

        // A relayed tick re-aims: 5 ms later it says the next tick is a period from now.
        _time.Advance(TimeSpan.FromMilliseconds(5));
        _schedule.OnTick("r1");
        _schedule.Offer("r1", "ann", Input(4));
        _time.Advance(aim - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_schedule.TakeDue());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single(_schedule.TakeDue());
    }

    [Fact]
    public void A_room_without_input_is_forgotten_and_a_tick_does_not_bring_it_back()
    {
        _schedule.Offer("r1", "ann", Input(1));
        _schedule.TakeDue();
        _schedule.OnTick("r1");
        _time.Advance(RoomInputSchedule.IdleAfter);
        Assert.Empty(_schedule.TakeDue()); // forgets r1

        _schedule.OnTick("r1");
        _schedule.OnTick("spectated-only");
        _schedule.Offer("r1", "ann", Input(2));
        Assert.Single(_schedule.TakeDue()); // phase unknown again: sent at once
    }

    private static PlayerInputState Input(long seq) => new(seq, seq * 33, 0, 0, seq, 1, "run", seq * 10, 0);
}
