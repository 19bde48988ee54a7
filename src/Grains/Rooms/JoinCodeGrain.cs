using Orleans.Runtime;
using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

[GenerateSerializer]
public sealed class JoinCodeState
{
    [Id(0)] public string? RoomId { get; set; }
}

/// <summary>One join code (key: the upper-case code); persisted so every node resolves it, also after a restart.</summary>
public sealed class JoinCodeGrain(
    [PersistentState("joinCode", StorageNames.Rooms)] IPersistentState<JoinCodeState> state) : Grain, IJoinCodeGrain
{
    public async Task<bool> ClaimAsync(string roomId)
    {
        if (state.State.RoomId is { } holder)
        {
            return holder == roomId;
        }

        state.State.RoomId = roomId;
        await state.WriteStateAsync();
        return true;
    }

    public Task<string?> ResolveAsync() => Task.FromResult(state.State.RoomId);

    public async Task ReleaseAsync(string roomId)
    {
        if (state.State.RoomId == roomId)
        {
            await state.ClearStateAsync();
        }
    }
}
