using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Grains.Diagnostics;
using PlayMusic.Hosting;

namespace PlayMusic.Api.Rooms;

/// <summary>Hub traffic on the project meter, for /metrics.</summary>
public static class HubMetrics
{
    private static readonly Meter Meter = new(TelemetryExtensions.PlayMusicMeter);

    private static readonly ObservedCount In = new();
    private static readonly ObservedCount Out = new();
    private static readonly ObservedCount Connections = new();
    private static readonly ObservedCount TicksSkipped = new();

    /// <summary>Observed rather than added to, so <c>/metrics</c> shows them (at 0) before the first connection.</summary>
    static HubMetrics()
    {
        In.CounterOn(Meter, "playmusic.hub.messages_in", "{message}", "Client-to-server hub invocations (sent or invoked)");
        Out.CounterOn(Meter, "playmusic.hub.messages_out", "{message}", "Room events delivered by this node, one per receiving local connection");
        Connections.UpDownCounterOn(Meter, "playmusic.hub.connections", "{connection}", "Hub connections open on this node");
        TicksSkipped.CounterOn(Meter, "playmusic.hub.ticks_skipped", "{message}",
            "Ticks not written to a connection still sending earlier ones (it gets a keyframe when it has caught up)");
    }

    /// <summary>Runs the static constructor: the instruments exist before any connection does.</summary>
    public static void Publish()
    {
    }

    public static void MessageIn() => In.Add(1);

    public static void MessagesOut(int count) => Out.Add(count);

    public static void TickSkipped(int count) => TicksSkipped.Add(count);

    public static void Connected() => Connections.Add(1);

    public static void Disconnected() => Connections.Add(-1);
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
