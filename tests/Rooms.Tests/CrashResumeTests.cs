using System.Text.Json.Nodes;
using Npgsql;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>The whole backend is SIGKILLed mid-match and started again on the same database.</summary>
public sealed class CrashResumeTests : DatabaseTest
{
    [Fact]
    public async Task Players_resume_the_same_room_and_seats_after_kill_9_and_restart()
    {
        var settings = ApiHost.Settings(Database.ConnectionString, FreePort.Next(), FreePort.Next());
        settings["PLAYMUSIC_URLS"] = $"http://127.0.0.1:{FreePort.Next()}";
        string roomId, token1, token2, player1, player2;
        string bearer1, bearer2;

        await using (var first = await ApiProcess.StartAsync(settings))
        {
            var one = await ApiHost.GuestAsync(first.BaseAddress, "One");
            var two = await ApiHost.GuestAsync(first.BaseAddress, "Two");
            (player1, bearer1, player2, bearer2) = (one.PlayerId, one.Token, two.PlayerId, two.Token);
            await using var p1 = await HubClient.ConnectAsync(first.BaseAddress, bearer1, Protocol.MessagePack);
            await using var p2 = await HubClient.ConnectAsync(first.BaseAddress, bearer2, Protocol.Json);
            var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = "crash-song" }))!;
            roomId = created["room"]!["roomId"]!.GetValue<string>();
            token1 = created["resumeToken"]!.GetValue<string>();
            token2 = (await p2.InvokeAsync("JoinRoom", new { roomId }))!["resumeToken"]!.GetValue<string>();
            await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
            await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
            await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");

            await p1.InvokeAsync("SendInput", new { seq = 1, songTimeMs = 500, x = 1, y = 2, z = 3, lane = 2, anim = "run", score = 500, combo = 5 });
            await p2.InvokeAsync("SendInput", new { seq = 7, songTimeMs = 500, x = 4, y = 5, z = 6, lane = 3, anim = "jump", score = 300, combo = 2 });
            await p1.NextAsync("Tick", t => Seat(t, 1) is { } s && s["seq"]!.GetValue<long>() == 7);
            // Both inputs are in the room now, so any write of its state from here on holds them. One more input
            // makes a checkpoint due (it may have written already); wait until the stored version moves on.
            var stored = await StoredRoomVersionAsync(roomId);
            await p1.InvokeAsync("SendInput", new { seq = 2, songTimeMs = 600, x = 1, y = 2, z = 3, lane = 2, anim = "run", score = 500, combo = 5 });
            await Poll.UntilAsync(async () => await StoredRoomVersionAsync(roomId) > stored, "the room checkpointed after the inputs");
            first.Kill();
        }

        await using var second = await ApiProcess.StartAsync(settings);
        await using var again1 = await HubClient.ConnectAsync(second.BaseAddress, bearer1, Protocol.MessagePack);
        await using var again2 = await HubClient.ConnectAsync(second.BaseAddress, bearer2, Protocol.Json);
        var resumed1 = (await again1.InvokeAsync("Resume", new { roomId, resumeToken = token1 }))!;
        var resumed2 = (await again2.InvokeAsync("Resume", new { roomId, resumeToken = token2 }))!;

        Assert.Equal(0, resumed1["seat"]!.GetValue<int>());
        Assert.Equal(1, resumed2["seat"]!.GetValue<int>());
        Assert.Equal("running", resumed2["room"]!["state"]!.GetValue<string>());
        Assert.Equal([player1, player2], resumed2["room"]!["players"]!.AsArray().Select(p => p!["playerId"]!.GetValue<string>()).ToArray());

        var keyframe = await again2.NextAsync("Tick", t => t["full"]!.GetValue<bool>());
        Assert.True(Seat(keyframe, 0)!["score"]!.GetValue<long>() >= 500);
        Assert.True(Seat(keyframe, 1)!["score"]!.GetValue<long>() >= 300);
        Assert.Equal(7, Seat(keyframe, 1)!["seq"]!.GetValue<long>());
        var later = await again1.NextAsync("Tick", t => t["tick"]!.GetValue<long>() > keyframe["tick"]!.GetValue<long>());
        Assert.True(later["songTimeMs"]!.GetValue<long>() > 0);

        // Play goes on from the checkpoint: the next input must follow the restored seq.
        await again2.InvokeAsync("SendInput", new { seq = 8, songTimeMs = 9000, x = 4, y = 5, z = 6, lane = 3, anim = "jump", score = 900, combo = 3 });
        await again1.NextAsync("Tick", t => Seat(t, 1) is { } s && s["seq"]!.GetValue<long>() == 8);
    }

    /// <summary>The version of the room's row in OrleansStorage: it goes up by one with every write of the grain's state.</summary>
    private async Task<int> StoredRoomVersionAsync(string roomId)
    {
        await using var dataSource = Database.CreateDataSource();
        // A string grain key is stored as the row's key extension; the state name ("room") is its grain type.
        await using var command = dataSource.CreateCommand("SELECT Version FROM OrleansStorage WHERE GrainTypeString = 'room' AND GrainIdExtensionString = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = roomId });
        return await command.ExecuteScalarAsync() as int? ?? throw new InvalidOperationException($"room {roomId} has no stored state");
    }

    private static JsonNode? Seat(JsonNode tick, int seat) =>
        tick["players"]!.AsArray().FirstOrDefault(p => p!["seat"]!.GetValue<int>() == seat);
}
