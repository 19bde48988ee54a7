using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace PlayMusic.Api.Rooms;

public static class RoomsExtensions
{
    public const int MaximumMessageBytes = 64 * 1024;

    public const int TransportBufferBytes = 16 * 1024;

    private static readonly TimeSpan StalledSendTimeout = TimeSpan.FromSeconds(30);

    /// <summary>SignalR (JSON + MessagePack, camelCase in both), the node's fan-out observer, input schedule and batcher.</summary>
    public static IHostApplicationBuilder AddPlayMusicRooms(this IHostApplicationBuilder builder)
    {
        HubMetrics.Publish();
        builder.Services.AddSignalR(o =>
            {
                o.AddFilter<HubTrafficFilter>();
                o.AddFilter<RoomErrorFilter>();
                // Above the largest valid message (a 16 KiB room config, up to ~2.3× that as MessagePack floats), so
                // an oversized config is refused as INVALID_ARGUMENT instead of closing the connection (32 KB default).
                o.MaximumReceiveMessageSize = MaximumMessageBytes;
            })
            .AddMessagePackProtocol(o => o.SerializerOptions = MessagePackSerializerOptions.Standard
                .WithResolver(CompositeResolver.Create([RawJsonMessagePackFormatter.Instance], [new OmittedNullsResolver(ContractlessStandardResolver.Instance)]))
                .WithSecurity(MessagePackSecurity.UntrustedData));
        CodedErrorProtocol.Decorate(builder.Services);
        // Refusals are normal traffic; RoomErrorFilter logs the unexpected failures instead.
        builder.Logging.AddFilter("Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher", LogLevel.Critical);
        // Kestrel's socket transport buffers up to 64 KB of a connection's output before a write waits: on a game
        // WebSocket that is seconds of stale ticks below the hub's own buffer. The API's answers are a few hundred
        // bytes; a larger one (/metrics) just waits for the socket as it goes.
        builder.Services.Configure<SocketTransportOptions>(o => o.MaxWriteBufferSize = KernelSendQueue.TransportWriteBufferBytes);
        builder.Services.AddSingleton<HubConnections>();
        builder.Services.AddSingleton<HubLifetimeManager<GameHub>, GameHubLifetimeManager>();
        builder.Services.AddSingleton<ResumeTokens>();
        builder.Services.AddSingleton<RoomFanout>().AddHostedService(sp => sp.GetRequiredService<RoomFanout>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RoomInputSchedule>();
        builder.Services.AddHostedService<RoomInputBatcher>();
        return builder;
    }

    public static IEndpointRouteBuilder MapRoomsHub(this IEndpointRouteBuilder endpoints)
    {
        // A connection may hold this much unsent (SignalR's default is 64 KB) before the fan-out skips its ticks
        // (RoomFanout.OnTickAsync): about a second and a half of a full room's ticks, not several seconds.
        endpoints.MapHub<GameHub>(GameHub.Path, o =>
        {
            o.TransportMaxBufferSize = TransportBufferBytes;
            // With the kernel's queue kept small (KernelSendQueue) a stalled downlink blocks the transport's send:
            // the connection is closed only after as long as the client itself waits for the server (30 s), not
            // SignalR's default 10 s, so a phone through a short tunnel keeps its connection and skips ticks.
            o.TransportSendTimeout = StalledSendTimeout;
        });
        return endpoints;
    }
}
