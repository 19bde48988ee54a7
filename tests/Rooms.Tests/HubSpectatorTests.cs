using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>What a watcher's connection sees when the host turns spectators off, on a node that also holds the players.</summary>
public sealed class HubSpectatorTests(RoomHostFixture fixture) : IClassFixture<RoomHostFixture>
{
    public static TheoryData<Protocol> Protocols => [Protocol.Json, Protocol.MessagePack];

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Turning_spectators_off_stops_the_room_reaching_its_watchers(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "Host", "Guest", "Watcher");
        var (p1, p2, watcher) = (players[0], players[1], players[2]);
        var roomId = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = $"watch-{Guid.NewGuid():N}"[..20], songDurationMs = 120_000 }))!["room"]!["roomId"]!.GetValue<string>();
        await p2.InvokeAsync("JoinRoom", new { roomId });
        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running", TimeSpan.FromSeconds(30));
        await watcher.InvokeAsync("Spectate", new { roomId });
        await watcher.NextAsync("Tick", timeout: TimeSpan.FromSeconds(30));

        await p1.InvokeAsync("UpdateSettings", new { allowSpectators = false });
        await watcher.NextAsync("RoomState", r => !r["settings"]!["allowSpectators"]!.GetValue<bool>(), TimeSpan.FromSeconds(30));
        watcher.Clear("Tick");
        watcher.Clear("RoomState");

        // A second of the match for the players (30 ticks, one more RoomState); the watcher hears none of it
        // but at most a tick that was on its way when the setting changed.
        p2.Clear("Tick");
        var from = (await p2.NextAsync("Tick", timeout: TimeSpan.FromSeconds(30)))["tick"]!.GetValue<long>();
        await p2.NextAsync("Tick", t => t["tick"]!.GetValue<long>() >= from + 30, TimeSpan.FromSeconds(30));
        await p1.InvokeAsync("Customize", new { ghostColor = "#112233" });
        await p2.NextAsync("RoomState", r => r["players"]!.AsArray().Any(p => p!["ghostColor"]!.GetValue<string>() == "#112233"), TimeSpan.FromSeconds(30));

        Assert.InRange(watcher.Unread("Tick"), 0, 1);
        Assert.Equal(0, watcher.Unread("RoomState"));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Changing_role_in_the_same_room_answers_with_the_room_as_it_now_is(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "Host", "Guest");
        var (p1, p2) = (players[0], players[1]);
        var roomId = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = $"role-{Guid.NewGuid():N}"[..20], songDurationMs = 120_000 }))!["room"]!["roomId"]!.GetValue<string>();
        await p2.InvokeAsync("JoinRoom", new { roomId });

        var watching = (await p2.InvokeAsync("Spectate", new { roomId }))!["room"]!;
        Assert.Equal(["Host"], watching["players"]!.AsArray().Select(p => p!["displayName"]!.GetValue<string>()));
        Assert.Equal(1, watching["spectators"]!.GetValue<int>());

        var seated = (await p2.InvokeAsync("JoinRoom", new { roomId }))!["room"]!;
        Assert.Equal(["Host", "Guest"], seated["players"]!.AsArray().Select(p => p!["displayName"]!.GetValue<string>()));
        Assert.Equal(0, seated["spectators"]!.GetValue<int>());
    }
}
