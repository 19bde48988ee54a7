using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace PlayMusic.Api.Rooms;

public static class RoomsExtensions
{
    public const int MaximumMessageBytes = 64 * 1024;

    public const int TransportBufferBytes = 16 * 1024;

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
        endpoints.MapHub<GameHub>(GameHub.Path, o => o.TransportMaxBufferSize = TransportBufferBytes);
        return endpoints;
    }
}
