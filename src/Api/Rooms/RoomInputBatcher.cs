using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// Sends what <see cref="RoomInputSchedule"/> says is due, as one one-way grain call per room: a player's
/// SendInput never waits on the room, and a room gets at most one call per tick from each node.
/// </summary>
public sealed class RoomInputBatcher(IGrainFactory grains, RoomInputSchedule schedule, TimeProvider time) : BackgroundService
{
    /// <summary>How often due batches are looked for: a batch leaves between the lead and the lead minus this before its tick.</summary>
    public static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(4);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Resolution, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var (roomId, batch) in schedule.TakeDue())
            {
                grains.GetGrain<IGameRoomGrain>(roomId).ApplyInputsAsync(batch).Ignore();
            }
        }
    }
}
