using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// Seat expiry end to end, on a host with a 2 s grace: only the expiry is awaited (generously), nothing has to
/// beat the grace. Resumes within the grace are in <see cref="GameHubTests"/>, exact expiry times in
/// <see cref="RoomTimingTests"/>.
/// </summary>
public sealed class SeatExpiryTests(ShortGraceHostFixture fixture) : IClassFixture<ShortGraceHostFixture>
{
    public static TheoryData<Protocol> Protocols => [Protocol.Json, Protocol.MessagePack];

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_seat_gone_for_longer_than_the_grace_is_freed_and_its_resume_refused(Protocol protocol)
    {
        var (_, p1) = await fixture.PlayerAsync(protocol, "A");
        var (b, p2) = await fixture.PlayerAsync(protocol, "B");
        await using var _1 = p1;
        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = "expiry-" + Guid.NewGuid().ToString("N")[..8] }))!;
        var roomId = created["room"]!["roomId"]!.GetValue<string>();
        var token = (await p2.InvokeAsync("JoinRoom", new { roomId }))!["resumeToken"]!.GetValue<string>();
        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");

        await p2.DisposeAsync();
        var timeout = await p1.NextAsync("PlayerLeft", timeout: TimeSpan.FromSeconds(fixture.GraceSeconds + 30));
        Assert.Equal("timeout", timeout["reason"]!.GetValue<string>());
        Assert.Equal(b.PlayerId, timeout["playerId"]!.GetValue<string>());
        Assert.Equal(1, timeout["seat"]!.GetValue<int>());

        await using var late = await HubClient.ConnectAsync(fixture.Host.BaseAddress, b.Token, protocol);
        await late.FailsWithAsync(RoomErrors.ResumeExpired, "Resume", new { roomId, resumeToken = token });
    }
}
