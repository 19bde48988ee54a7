using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Hosting;

namespace PlayMusic.Api.Rooms;

/// <summary>Hub traffic on the project meter, for /metrics.</summary>
public static class HubMetrics
{
    private static readonly Meter Meter = new(TelemetryExtensions.PlayMusicMeter);

    public static readonly Counter<long> MessagesIn = Meter.CreateCounter<long>(
        "playmusic.hub.messages_in", "{message}", "Client-to-server hub invocations (sent or invoked)");

    public static readonly Counter<long> MessagesOut = Meter.CreateCounter<long>(
        "playmusic.hub.messages_out", "{message}", "Room events delivered by this node, one per receiving local connection");
}

/// <summary>Counts every hub invocation, whatever its outcome.</summary>
public sealed class HubTrafficFilter : IHubFilter
{
    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        HubMetrics.MessagesIn.Add(1);
        return next(invocationContext);
    }
}
