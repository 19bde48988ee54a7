using Microsoft.Extensions.Time.Testing;
using PlayMusic.Api.Rooms;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// When a node sends a room's inputs: once per tick, aimed just before the room's next tick as the relayed
/// ticks show it, with no wake-ups while nothing is pending. The clock is a <see cref="FakeTimeProvider"/>;
/// a waiting batcher is woken only by its timer or by an input, so "not yet" is checked without sleeping.
/// </summary>
public sealed class RoomInputScheduleTests : IDisposable
{
    private static readonly TimeSpan Aim = RoomInputSchedule.TickPeriod - RoomInputSchedule.Lead;
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);
    private readonly FakeTimeProvider _time = new();
    private readonly RoomInputSchedule _schedule;

    public RoomInputScheduleTests() => _schedule = new RoomInputSchedule(_time);

    public void Dispose() => _schedule.Dispose();

    [Fact]
    public async Task Before_any_tick_a_room_is_sent_at_once_then_once_per_period_with_the_latest_input_per_player()
    {
        _schedule.Offer("r1", "ann", Input(1));
        var first = Assert.Single(await Next());
        Assert.Equal("r1", first.RoomId);
        Assert.Equal(1, Assert.Single(first.Batch.Inputs).Value.Seq);

        _schedule.Offer("r1", "ann", Input(2));
        _schedule.Offer("r1", "ann", Input(3)); // replaces seq 2
        _schedule.Offer("r1", "bob", Input(7));
        var next = _schedule.NextAsync(CancellationToken.None);
        _time.Advance(RoomInputSchedule.TickPeriod - Ms);
        Assert.False(next.IsCompleted);

        _time.Advance(Ms);
        var second = Assert.Single(await next.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal([("ann", 3L), ("bob", 7L)], second.Batch.Inputs.Select(i => (i.Key, i.Value.Seq)).Order());
    }

    [Fact]
    public async Task After_a_tick_the_batch_is_due_the_lead_before_the_next_tick_and_every_period_after()
    {
        _schedule.Offer("r1", "ann", Input(1));
        await Next();
        _schedule.OnTick("r1");

        _time.Advance(Ms);
        _schedule.Offer("r1", "ann", Input(2));
        var next = _schedule.NextAsync(CancellationToken.None);
        _time.Advance(Aim - 2 * Ms);
        Assert.False(next.IsCompleted); // 1 ms before the aim
        _time.Advance(Ms);
        Assert.Equal(2, Assert.Single(Assert.Single(await next.WaitAsync(TimeSpan.FromSeconds(10))).Batch.Inputs).Value.Seq);

        // No tick relayed meanwhile: the next batch aims one period later.
        _schedule.Offer("r1", "ann", Input(3));
        next = _schedule.NextAsync(CancellationToken.None);
        _time.Advance(RoomInputSchedule.TickPeriod - Ms);
        Assert.False(next.IsCompleted);
        _time.Advance(Ms);
        Assert.Single(await next.WaitAsync(TimeSpan.FromSeconds(10)));

        // A relayed tick re-aims: 5 ms later it says the next tick is a period from now.
        _time.Advance(5 * Ms);
        _schedule.OnTick("r1");
        _schedule.Offer("r1", "ann", Input(4));
        next = _schedule.NextAsync(CancellationToken.None);
        _time.Advance(Aim - Ms);
        Assert.False(next.IsCompleted);
        _time.Advance(Ms);
        Assert.Single(await next.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_waiting_batcher_is_woken_by_input_when_parked_and_by_a_room_due_before_its_planned_wake()
    {
        var parked = _schedule.NextAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(parked.IsCompleted); // nothing pending: no timer at all
        _schedule.Offer("r1", "ann", Input(1));
        _schedule.Offer("r2", "bob", Input(1));
        Assert.Equal(2, (await parked.WaitAsync(TimeSpan.FromSeconds(10))).Count);

        // r1 ticked recently (due in ~25 ms); r2's phase says it is due in ~13 ms but it holds no input yet.
        _time.Advance(20 * Ms);
        _schedule.OnTick("r1");
        _schedule.Offer("r1", "ann", Input(2));
        var next = _schedule.NextAsync(CancellationToken.None); // sleeps until r1's aim
        _time.Advance(Ms);
        _schedule.Offer("r2", "bob", Input(2)); // due before that: wakes the batcher to re-aim
        _time.Advance(RoomInputSchedule.TickPeriod - 21 * Ms);
        var woken = Assert.Single(await next.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("r2", woken.RoomId);
    }

    [Fact]
    public async Task A_room_without_input_is_forgotten_and_a_tick_does_not_bring_it_back()
    {
        _schedule.Offer("r1", "ann", Input(1));
        await Next();
        _schedule.OnTick("r1");
        _time.Advance(RoomInputSchedule.IdleAfter);
        var next = _schedule.NextAsync(CancellationToken.None); // forgets r1, then waits for input

        _schedule.OnTick("r1");
        _schedule.OnTick("spectated-only");
        _schedule.Offer("r1", "ann", Input(2));
        Assert.Single(await next.WaitAsync(TimeSpan.FromSeconds(10))); // phase unknown again: sent at once
    }

    private Task<List<(string RoomId, PlayMusic.Rooms.InputBatch Batch)>> Next() =>
        _schedule.NextAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

    private static PlayerInputState Input(long seq) => new(seq, seq * 33, 0, 0, seq, 1, "run", seq * 10, 0);
}
