using PlayMusic.Rooms;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// Hub calls answered <c>UNAVAILABLE</c> because the room could not store their change (a database blip):
/// the client may send the call again or give up, and neither leaves a seat in a state nobody can end.
/// Real Kestrel, SignalR client and silo; the rooms storage behind a switch.
/// </summary>
public sealed class HubWriteFailureTests : IAsyncLifetime
{
    private readonly FlakyRoomStorage _storage = new();
    private TestDatabase _database = null!;
    private ApiHost _host = null!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await ApiHost.StartAsync(_database.ConnectionString, services: _storage.InstallIn);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _database.DisposeAsync();
    }

    private async Task<HubClient> PlayerAsync(string name) =>
        await HubClient.ConnectAsync(_host.BaseAddress, (await _host.GuestAsync(name)).Token, Protocol.Json);

    private static async Task<string> CreateRoomAsync(HubClient host) =>
        (await host.InvokeAsync("CreateRoom", new { mode = "runner", songId = "song-" + Guid.NewGuid().ToString("N")[..8], songDurationMs = 60_000 }))!
            ["room"]!["joinCode"]!.GetValue<string>();

    [Fact]
    public async Task A_join_answered_UNAVAILABLE_and_never_sent_again_does_not_hold_a_connected_seat()
    {
        await using var p1 = await PlayerAsync("One");
        await using var p2 = await PlayerAsync("Two");
        var joinCode = await CreateRoomAsync(p1);

        _storage.FailRoomWrites = true;
        await p2.FailsWithAsync(RoomErrors.Unavailable, "JoinRoom", new { joinCode });
        _storage.FailRoomWrites = false;

        // The room seated p2 before its write failed; the hub then released that seat, so it waits for a Resume
        // (grace) instead of showing a player who is gone as connected for ever (it never got ready either).
        await p1.NextAsync("RoomState", r => r["players"]!.AsArray() is { Count: 2 } players && !players[1]!["connected"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_quick_match_answered_UNAVAILABLE_and_never_sent_again_does_not_hold_a_connected_seat()
    {
        await using var p1 = await PlayerAsync("One");
        await using var p2 = await PlayerAsync("Two");
        var match = new { mode = "runner", songId = "song-" + Guid.NewGuid().ToString("N")[..8], songDurationMs = 60_000 };
        await p1.InvokeAsync("QuickMatch", match);

        _storage.FailRoomWrites = true;
        await p2.FailsWithAsync(RoomErrors.Unavailable, "QuickMatch", match);
        _storage.FailRoomWrites = false;

        // The matchmaker seated p2 in p1's lobby before the room's write failed. The hub never learned that room, and
        // the node keeps re-attaching it for p1, so only the matchmaker can start p2's grace.
        await p1.NextAsync("RoomState", r => r["players"]!.AsArray() is { Count: 2 } players && !players[1]!["connected"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_leave_answered_UNAVAILABLE_can_be_sent_again()
    {
        await using var p1 = await PlayerAsync("One");
        await using var p2 = await PlayerAsync("Two");
        var joinCode = await CreateRoomAsync(p1);
        await p2.InvokeAsync("JoinRoom", new { joinCode });

        _storage.FailRoomWrites = true;
        await p2.FailsWithAsync(RoomErrors.Unavailable, "LeaveRoom");
        _storage.FailRoomWrites = false;

        await p2.InvokeAsync("LeaveRoom"); // was NOT_IN_ROOM: the hub had dropped the session before the room stored the leave
        await p2.FailsWithAsync(RoomErrors.NotInRoom, "LeaveRoom");
        await p1.NextAsync("RoomState", r => r["players"]!.AsArray().Count == 1);
    }
}
