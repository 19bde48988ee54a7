using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>Two API nodes (two silos of one cluster): a room's events reach connections on both nodes.</summary>
public sealed class TwoNodeFanoutTests : DatabaseTest
{
    [Fact]
    public async Task Players_on_different_nodes_see_each_other()
    {
        await using var nodeA = await ApiHost.StartAsync(Database.ConnectionString);
        await using var nodeB = await ApiHost.StartAsync(Database.ConnectionString);
        await Poll.UntilAsync(() => ActiveSilos(nodeA) == 2 && ActiveSilos(nodeB) == 2, "both silos see two active members");

        var a = await nodeA.GuestAsync("OnA");
        var b = await nodeB.GuestAsync("OnB");
        await using var p1 = await HubClient.ConnectAsync(nodeA.BaseAddress, a.Token, Protocol.MessagePack);
        await using var p2 = await HubClient.ConnectAsync(nodeB.BaseAddress, b.Token, Protocol.Json);
        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = "two-nodes" }))!;
        var joinCode = created["room"]!["joinCode"]!.GetValue<string>();

        // The join code resolves on the other node; RoomState crosses to node A.
        await p2.InvokeAsync("JoinRoom", new { joinCode });
        await p1.NextAsync("RoomState", r => r["players"]!.AsArray().Count == 2);
        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");

        await p2.InvokeAsync("SendInput", new { seq = 5, songTimeMs = 100, x = 1, y = 1, z = 1, lane = 0, anim = "b", score = 10, combo = 0 });
        await p1.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 1 && p["seq"]!.GetValue<long>() == 5));
        await p1.InvokeAsync("SendInput", new { seq = 9, songTimeMs = 100, x = 1, y = 1, z = 1, lane = 0, anim = "a", score = 20, combo = 0 });
        await p2.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 0 && p["seq"]!.GetValue<long>() == 9));
    }

    private static int ActiveSilos(ApiHost host) =>
        host.Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
}
