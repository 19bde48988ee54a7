using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// One database and one real API host (Kestrel + embedded silo) shared by a test class. The seat grace is
/// generous: a Resume on a new connection (negotiate, handshake, a slow transport) must beat it even on a
/// loaded machine. Tests that wait for a seat to expire use <see cref="ShortGraceHostFixture"/>.
/// </summary>
public class RoomHostFixture : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public ApiHost Host { get; private set; } = null!;

    public virtual int GraceSeconds => 30;

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

/// <summary>A host whose seats expire 2 s after a disconnect, for tests that wait for the expiry itself (nothing there has to beat it).</summary>
public sealed class ShortGraceHostFixture : RoomHostFixture
{
    public override int GraceSeconds => 2;
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
