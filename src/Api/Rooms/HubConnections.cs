using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// This node's open hub connections by id, so the fan-out can write a room's ticks to each connection itself
/// and see which ones are still flushing earlier writes (<see cref="RoomFanout"/>).
/// </summary>
public sealed class HubConnections
{
    private readonly ConcurrentDictionary<string, HubConnectionContext> _open = new();

    public bool TryGet(string connectionId, out HubConnectionContext connection) => _open.TryGetValue(connectionId, out connection!);

    internal void Add(HubConnectionContext connection) => _open[connection.ConnectionId] = connection;

    internal void Remove(HubConnectionContext connection) => _open.TryRemove(connection.ConnectionId, out _);
}

/// <summary>SignalR's own lifetime manager for <see cref="GameHub"/>, also keeping <see cref="HubConnections"/> current.</summary>
public sealed class GameHubLifetimeManager(ILogger<DefaultHubLifetimeManager<GameHub>> logger, HubConnections connections)
    : DefaultHubLifetimeManager<GameHub>(logger)
{
    public override Task OnConnectedAsync(HubConnectionContext connection)
    {
        KernelSendQueue.Limit(connection);
        connections.Add(connection);
        return base.OnConnectedAsync(connection);
    }

    public override Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        connections.Remove(connection);
        return base.OnDisconnectedAsync(connection);
    }
}
