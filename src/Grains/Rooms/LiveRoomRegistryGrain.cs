using Orleans.Runtime;
using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

[GenerateSerializer]
public sealed class LiveRoomRegistryState
{
    [Id(0)] public Dictionary<string, LiveRoom> Rooms { get; set; } = [];
}

/// <summary>
/// The public rooms in countdown or running, kept current by the rooms themselves (no scan). Persisted
/// so a restart keeps listing rooms that come back; rooms that close remove themselves.
/// </summary>
public sealed class LiveRoomRegistryGrain(
    [PersistentState("liveRooms", StorageNames.Rooms)] IPersistentState<LiveRoomRegistryState> state) : Grain, ILiveRoomRegistryGrain
{
    public async Task UpsertAsync(LiveRoom room)
    {
        state.State.Rooms[room.RoomId] = room;
        await state.WriteStateAsync();
    }

    public async Task RemoveAsync(string roomId)
    {
        if (state.State.Rooms.Remove(roomId))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<IReadOnlyList<LiveRoom>> ListAsync(string? mode, int limit) =>
        Task.FromResult<IReadOnlyList<LiveRoom>>([.. state.State.Rooms.Values
            .Where(r => mode is null || r.Mode == mode)
            .OrderByDescending(r => r.Spectators).ThenBy(r => r.StartedAt ?? long.MaxValue).ThenBy(r => r.RoomId, StringComparer.Ordinal)
            .Take(limit)]);
}
