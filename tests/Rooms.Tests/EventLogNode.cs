using System.Collections.Concurrent;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// An API node as a room sees it, logging every event in arrival order: a room's one-way calls to one node
/// arrive in the order sent, so an event that arrived proves the earlier ones did (or were never sent).
/// </summary>
public sealed class EventLogNode : IRoomNodeObserver
{
    public ConcurrentQueue<object> Events { get; } = new();

    public IReadOnlyList<TickEvent> Ticks => [.. Events.OfType<TickEvent>()];

    public IReadOnlyList<RoomView> States => [.. Events.OfType<RoomView>()];

    public IReadOnlyList<ResultsEvent> Results => [.. Events.OfType<ResultsEvent>()];

    public Task OnTickAsync(TickEvent tick) => Log(tick);

    public Task OnRoomStateAsync(RoomView room) => Log(room);

    public Task OnCountdownAsync(CountdownStarted countdown) => Log(countdown);

    public Task OnStemsAsync(StemsEvent stems) => Log(stems);

    public Task OnEmoteAsync(EmoteEvent emote) => Log(emote);

    public Task OnPlayerLeftAsync(PlayerLeftEvent left) => Log(left);

    public Task OnResultsAsync(ResultsEvent results) => Log(results);

    public Task OnSeatTakenAsync(string roomId, string playerId, string connectionId) => Log((roomId, playerId, connectionId));

    private Task Log(object message)
    {
        Events.Enqueue(message);
        return Task.CompletedTask;
    }
}
