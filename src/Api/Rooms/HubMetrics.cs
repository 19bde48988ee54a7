using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Hosting;

namespace PlayMusic.Api.Rooms;

/// <summary>Hub traffic on the project meter, for /metrics.</summary>
public static class HubMetrics
{
    private static readonly Meter Meter = new(TelemetryExtensions.PlayMusicMeter);

    private static long _messagesIn;
    private static long _messagesOut;
    private static int _connections;

    /// <summary>Observed rather than added to, so <c>/metrics</c> shows them (at 0) before the first connection.</summary>
    static HubMetrics()
    {
        Meter.CreateObservableCounter("playmusic.hub.messages_in", () => Volatile.Read(ref _messagesIn), "{message}",
            "Client-to-server hub invocations (sent or invoked)");
        Meter.CreateObservableCounter("playmusic.hub.messages_out", () => Volatile.Read(ref _messagesOut), "{message}",
            "Room events delivered by this node, one per receiving local connection");
        Meter.CreateObservableUpDownCounter("playmusic.hub.connections", () => Volatile.Read(ref _connections), "{connection}",
            "Hub connections open on this node");
    }

    /// <summary>Runs the static constructor: the instruments exist before any connection does.</summary>
    public static void Publish()
    {
    }

    public static void MessageIn() => Interlocked.Increment(ref _messagesIn);

    public static void MessagesOut(int count) => Interlocked.Add(ref _messagesOut, count);

    public static void Connected() => Interlocked.Increment(ref _connections);

    public static void Disconnected() => Interlocked.Decrement(ref _connections);
}

/// <summary>Counts every hub invocation, whatever its outcome, and the connections open.</summary>
public sealed class HubTrafficFilter : IHubFilter
{
    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        HubMetrics.MessageIn();
        return next(invocationContext);
    }

    // SignalR calls OnDisconnectedAsync only for connections whose OnConnectedAsync completed.
    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        await next(context);
        HubMetrics.Connected();
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        HubMetrics.Disconnected();
        await next(context, exception);
    }
}
