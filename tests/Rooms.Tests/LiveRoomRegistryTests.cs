using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// Rooms publish to the live-room registry one-way, and one-way messages may arrive out of order (seen while the
/// registry was activating): the registry keeps the newest publication of each room. Real silo and database.
/// </summary>
public sealed class LiveRoomRegistryTests : SiloTest
{
    private static LiveRoom Room(string id, string state, int spectators = 0) => new(id, "runner", "song", state, 2, spectators, null);

    [Fact]
    public async Task An_older_publication_arriving_late_changes_nothing()
    {
        var registry = Grains.GetGrain<ILiveRoomRegistryGrain>(ILiveRoomRegistryGrain.Key);
        var version = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        // Publications are one-way: an awaited call returns once sent, not once handled, and a list may be answered
        // before them. The registry is activated first, so the publications below are handled in the order sent (the
        // late ones are sent late on purpose), and a last publication is the barrier: once it is listed, the
        // earlier ones have been handled.
        Assert.Empty(await registry.ListAsync(null, 100));

        // The start overtook the countdown: the room stays listed as running.
        await registry.UpsertAsync(Room("a", "running"), version + 2);
        await registry.UpsertAsync(Room("a", "countdown"), version + 1);
        // The close overtook the last spectator count: the room stays gone.
        await registry.RemoveAsync("b", version + 5);
        await registry.UpsertAsync(Room("b", "running", spectators: 3), version + 4);
        await registry.UpsertAsync(Room("barrier", "running"), version);
        await Poll.UntilAsync(async () => (await registry.ListAsync(null, 100)).Any(r => r.RoomId == "barrier"), "the barrier is listed");

        var listed = await registry.ListAsync(null, 100);
        Assert.Equal(["a running", "barrier running"], listed.Select(r => $"{r.RoomId} {r.State}").Order(StringComparer.Ordinal));

        // A newer one still wins.
        await registry.UpsertAsync(Room("a", "running", spectators: 1), version + 3);
        await Poll.UntilAsync(async () => (await registry.ListAsync(null, 100)).Single(r => r.RoomId == "a").Spectators == 1,
            "the newer publication of room a is listed");
    }
}
