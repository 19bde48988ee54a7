using System.Reflection;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging.Abstractions;
using PlayMusic.Api.Rooms;
using PlayMusic.Rooms;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// PROTOCOL §2: every hub error starts with its code, including failures that are not a room's refusal
/// (hard to provoke on purpose through a live hub, so the filter is driven directly).
/// </summary>
public sealed class RoomErrorFilterTests
{
    public static TheoryData<Exception, string> Failures => new()
    {
        { new RoomException(RoomErrors.RoomFull, "room x already has 4 players"), "ROOM_FULL: room x already has 4 players" },
        { new SiloUnavailableException("silo gone"), "UNAVAILABLE: " },
        { new TimeoutException("response timed out"), "UNAVAILABLE: " },
        { new InvalidOperationException("a bug"), "INTERNAL_ERROR: " },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Every_failure_reaches_the_client_with_a_code(Exception failure, string expectedStart)
    {
        var filter = new RoomErrorFilter(NullLogger<RoomErrorFilter>.Instance);
        var invocation = new HubInvocationContext(new NoCaller(), new EmptyServices(), new NoHub(),
            typeof(NoHub).GetMethod(nameof(NoHub.Method), BindingFlags.Public | BindingFlags.Instance)!, []);

        var error = await Assert.ThrowsAsync<HubException>(async () => await filter.InvokeMethodAsync(invocation, _ => throw failure));

        Assert.StartsWith(expectedStart, error.Message);
    }

    private sealed class NoHub : Hub
    {
        public void Method()
        {
        }
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    private sealed class NoCaller : HubCallerContext
    {
        public override string ConnectionId => "c1";

        public override string? UserIdentifier => null;

        public override System.Security.Claims.ClaimsPrincipal? User => null;

        public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

        public override Microsoft.AspNetCore.Http.Features.IFeatureCollection Features { get; } = new Microsoft.AspNetCore.Http.Features.FeatureCollection();

        public override CancellationToken ConnectionAborted => CancellationToken.None;

        public override void Abort()
        {
        }
    }
}
