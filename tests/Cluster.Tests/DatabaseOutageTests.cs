using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using PlayMusic.TestSupport;

namespace PlayMusic.Cluster.Tests;

/// <summary>
/// A silo that loses its database answers an API node's calls with the database's own exceptions: the node must
/// still tell its clients "retry" (503), as an embedded node does, not report a server bug.
/// </summary>
public sealed class DatabaseOutageTests : DatabaseTest
{
    [Fact]
    public async Task A_silo_without_its_database_makes_an_api_node_answer_503_with_retry_after()
    {
        var direct = new NpgsqlConnectionStringBuilder(Database.ConnectionString);
        await using var proxy = new TcpProxy(direct.Host!, direct.Port);
        var throughProxy = new NpgsqlConnectionStringBuilder(Database.ConnectionString) { Port = proxy.Port, Timeout = 3 }.ConnectionString;
        await using var cluster = await LocalCluster.StartAsync(Database.ConnectionString, silos: 1, apis: 1, siloConnectionString: throughProxy);
        using var admin = cluster.AdminClient(1);
        using var player = new HttpClient { BaseAddress = cluster.Api(1), Timeout = TimeSpan.FromSeconds(30) };
        player.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await ApiHost.GuestAsync(cluster.Api(1))).Token);
        (await player.GetAsync("/api/games/warm/leaderboard")).EnsureSuccessStatusCode();

        proxy.Cut();

        // A stored change (the catalog grain's write) and a board's first read (its activation's read), both on the silo.
        using var modeChange = await admin.PutAsJsonAsync("/api/admin/config/modes/flight", new
        {
            name = "Flight", maxScorePerSecond = 3000, multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 4, coop = false },
        });
        using var board = await player.GetAsync($"/api/games/g-{Guid.NewGuid():N}/leaderboard");
        foreach (var response in new[] { modeChange, board })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("UNAVAILABLE", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            Assert.NotNull(response.Headers.RetryAfter);
        }
    }
}
