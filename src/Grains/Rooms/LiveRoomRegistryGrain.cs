using Orleans.Runtime;
using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

[GenerateSerializer]
public sealed class LiveRoomRegistryState
{
    [Id(0)] public Dictionary<string, LiveRoom> Rooms { get; set; } = [];

    /// <summary>The latest version heard of each room, listed or removed (removals are kept for <see cref="LiveRoomRegistryGrain.RemovalMemory"/>).</summary>
    [Id(1)] public Dictionary<string, long> Versions { get; set; } = [];
}

/// <summary>
/// The public rooms in countdown or running, kept current by the rooms themselves (no scan). Persisted
/// so a restart keeps listing rooms that come back; rooms that close remove themselves. Rooms publish
/// one-way: a publication older than the latest heard of that room is ignored, so a delayed countdown
/// cannot hide a running room, nor a delayed upsert bring back a closed one.
/// </summary>
public sealed class LiveRoomRegistryGrain(
    [PersistentState("liveRooms", StorageNames.Rooms)] IPersistentState<LiveRoomRegistryState> state, TimeProvider time)
    : Grain, ILiveRoomRegistryGrain
{
    /// <summary>How long a removal is remembered against late upserts: far longer than any message is delayed.</summary>
    public static readonly TimeSpan RemovalMemory = TimeSpan.FromHours(1);

    public async Task UpsertAsync(LiveRoom room, long version)
    {
        if (IsNewest(room.RoomId, version))
        {
            state.State.Rooms[room.RoomId] = room;
            ForgetOldRemovals();
            await state.WriteStateAsync();
        }
    }

    public async Task RemoveAsync(string roomId, long version)
    {
        if (IsNewest(roomId, version) && state.State.Rooms.Remove(roomId))
        {
            ForgetOldRemovals();
            await state.WriteStateAsync();
        }
    }

    /// <summary>Records the version when it is the newest heard of the room.</summary>
    private bool IsNewest(string roomId, long version)
    {
        if (state.State.Versions.TryGetValue(roomId, out var latest) && latest >= version)
        {
            return false;
        }

        state.State.Versions[roomId] = version;
        return true;
    }

    /// <summary>Versions are the rooms' clock in ms × 1000 (see GameRoomGrain.PublishLive).</summary>
    private void ForgetOldRemovals()
    {
        var before = (time.GetUtcNow() - RemovalMemory).ToUnixTimeMilliseconds() * 1000;
        foreach (var (roomId, version) in state.State.Versions.Where(v => v.Value < before && !state.State.Rooms.ContainsKey(v.Key)).ToList())
        {
            state.State.Versions.Remove(roomId);
        }
    }

    public Task<IReadOnlyList<LiveRoom>> ListAsync(string? mode, int limit) =>
        Task.FromResult<IReadOnlyList<LiveRoom>>([.. state.State.Rooms.Values
            .Where(r => mode is null || r.Mode == mode)
            .OrderByDescending(r => r.Spectators).ThenBy(r => r.StartedAt ?? long.MaxValue).ThenBy(r => r.RoomId, StringComparer.Ordinal)
            .Take(limit)]);
}
