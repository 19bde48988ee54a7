using System.Collections.Concurrent;
using MessagePack;
using MessagePack.Resolvers;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Rooms.Floor;

// The floors of the rooms scenario (docs/benchmarks.md): the least an ASP.NET Core server can do for
// R rooms × (2 players sending 30 Hz inputs + 1 spectator) — no Orleans, no game rules, no persistence.
// One loop ticks every room at 30 Hz.
// - /floor/{room}/{seat}: raw WebSockets on Kestrel, one binary frame per connection per tick carrying both
//   seats' latest input; what sockets, Kestrel and WebSocket framing alone cost.
// - /floor-hub: the same through SignalR with MessagePack, as the real hub does it (SendInput with the real
//   argument shape, the real TickEvent sent once per room to a SignalR group): what the mandated transport costs.
// `bench/Rooms.Bench --floor websocket|signalr` drives them with the real bench's message pattern.
//   taskset -c 0 dotnet PlayMusic.Rooms.Floor.dll --urls http://127.0.0.1:5199
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddSignalR().AddMessagePackProtocol(o => o.SerializerOptions = MessagePackSerializerOptions.Standard
    .WithResolver(ContractlessStandardResolver.Instance)
    .WithSecurity(MessagePackSecurity.UntrustedData));
builder.Services.AddSingleton<HubFloorRooms>();
var app = builder.Build();
var webSocketRooms = new ConcurrentDictionary<int, WebSocketFloorRoom>();
app.UseWebSockets();
app.Map("/floor/{room:int}/{seat:int}", async (int room, int seat, HttpContext context) =>
{
    if (!context.WebSockets.IsWebSocketRequest || seat is < 0 or > 2)
    {
        return Results.BadRequest();
    }

    using var socket = await context.WebSockets.AcceptWebSocketAsync();
    await webSocketRooms.GetOrAdd(room, _ => new WebSocketFloorRoom()).ServeAsync(seat, socket, context.RequestAborted);
    return Results.Empty;
});
app.MapHub<FloorHub>("/floor-hub");

var hubRooms = app.Services.GetRequiredService<HubFloorRooms>();
var hub = app.Services.GetRequiredService<IHubContext<FloorHub>>();
_ = Task.Run(async () =>
{
    // Drift-free 30 Hz: PeriodicTimer keeps its period from the start, whatever each round costs.
    using var timer = new PeriodicTimer(TimeSpan.FromTicks(TimeSpan.TicksPerSecond / 30));
    while (await timer.WaitForNextTickAsync())
    {
        foreach (var room in webSocketRooms.Values)
        {
            room.Tick();
        }

        hubRooms.Tick(hub);
    }
});

app.Run();
