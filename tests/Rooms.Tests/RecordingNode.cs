using System.Collections.Concurrent;

namespace PlayMusic.Rooms.Tests;

/// <summary>An API node as a room sees it, recording what the room sends.</summary>
public sealed class RecordingNode : IRoomNodeObserver
{
    public ConcurrentQueue<ResultsEvent> Results { get; } = new();

    public ConcurrentQueue<TickEvent> Ticks { get; } = new();

    public ConcurrentQueue<PlayerLeftEvent> Left { get; } = new();

    public Task OnTickAsync(TickEvent tick)
    {
        Ticks.Enqueue(tick);
        return Task.CompletedTask;
    }

    public Task OnPlayerLeftAsync(PlayerLeftEvent left)
    {
        Left.Enqueue(left);
        return Task.CompletedTask;
    }

    public Task OnRoomStateAsync(RoomView room) => Task.CompletedTask;

    public Task OnCountdownAsync(CountdownStarted countdown) => Task.CompletedTask;

    public Task OnStemsAsync(StemsEvent stems) => Task.CompletedTask;

    public Task OnEmoteAsync(EmoteEvent emote) => Task.CompletedTask;

    public Task OnSeatTakenAsync(string roomId, string playerId, string connectionId) => Task.CompletedTask;

    public Task OnResultsAsync(ResultsEvent results)
    {
        Results.Enqueue(results);
        return Task.CompletedTask;
    }
}
