using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>One database and one real API host (Kestrel + embedded silo) shared by a test class; seat grace of 2 s.</summary>
public sealed class RoomHostFixture : IAsyncLifetime
{
    public const int GraceSeconds = 2;

    private TestDatabase _database = null!;

    public ApiHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        Host = await ApiHost.StartAsync(_database.ConnectionString, new Dictionary<string, string?>
        {
            ["PLAYMUSIC_SEAT_GRACE_SECONDS"] = GraceSeconds.ToString(),
        });
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await _database.DisposeAsync();
    }

    public async Task<(GuestIdentity Guest, HubClient Client)> PlayerAsync(Protocol protocol, string name)
    {
        var guest = await Host.GuestAsync(name);
        return (guest, await HubClient.ConnectAsync(Host.BaseAddress, guest.Token, protocol));
    }

    /// <summary>One connected player per name, disposed together.</summary>
    public async Task<ConnectedPlayers> PlayersAsync(Protocol protocol, params string[] names)
    {
        var players = new ConnectedPlayers();
        foreach (var name in names)
        {
            players.Add((await PlayerAsync(protocol, name)).Client);
        }

        return players;
    }
}

public sealed class ConnectedPlayers : List<HubClient>, IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var client in this)
        {
            await client.DisposeAsync();
        }
    }
}
