using PlayMusic.Rooms;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// Sends what <see cref="RoomInputSchedule"/> says is due, as one one-way grain call per room: a player's
/// SendInput never waits on the room, and a room gets at most one call per tick from each node.
/// </summary>
public sealed class RoomInputBatcher(IGrainFactory grains, RoomInputSchedule schedule) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            foreach (var (roomId, batch) in await schedule.NextAsync(stoppingToken))
            {
                grains.GetGrain<IGameRoomGrain>(roomId).ApplyInputsAsync(batch).Ignore();
            }
        }
    }
}
