using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// Rooms publish to the live-room registry one-way, and one-way messages may arrive out of order (seen while the
/// registry was activating): the registry keeps the newest publication of each room. Real silo and database.
/// </summary>
public sealed class LiveRoomRegistryTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private TestSilo _silo = null!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _silo = await TestSilo.StartAsync(_database.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        await _database.DisposeAsync();
    }

    private static LiveRoom Room(string id, string state, int spectators = 0) => new(id, "runner", "song", state, 2, spectators, null);

    [Fact]
    public async Task An_older_publication_arriving_late_changes_nothing()
    {
        var registry = _silo.Grains.GetGrain<ILiveRoomRegistryGrain>(ILiveRoomRegistryGrain.Key);
        var version = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

        // The start overtook the countdown: the room stays listed as running.
        await registry.UpsertAsync(Room("a", "running"), version + 2);
        await registry.UpsertAsync(Room("a", "countdown"), version + 1);
        // The close overtook the last spectator count: the room stays gone.
        await registry.RemoveAsync("b", version + 5);
        await registry.UpsertAsync(Room("b", "running", spectators: 3), version + 4);

        var listed = await registry.ListAsync(null, 100);
        Assert.Equal("running", Assert.Single(listed).State);
        Assert.Equal("a", listed[0].RoomId);

        // A newer one still wins.
        await registry.UpsertAsync(Room("a", "running", spectators: 1), version + 3);
        Assert.Equal(1, Assert.Single(await registry.ListAsync(null, 100)).Spectators);
    }
}
