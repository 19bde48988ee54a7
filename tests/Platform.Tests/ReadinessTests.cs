using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

public sealed class ReadinessTests : DatabaseTest
{
    [Fact]
    public async Task Readyz_goes_503_while_the_database_is_unreachable_and_back_to_200_after()
    {
        await using var proxy = ProxyToDatabase();
        await using var host = await ApiHost.StartAsync(ThroughProxy(proxy));

        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/healthz")).StatusCode);

        proxy.Cut();
        await Poll.UntilAsync(async () => (await host.Http.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, "readyz reports 503");
        using (var notReady = await host.Http.GetAsync("/readyz"))
        {
            Assert.Equal("application/problem+json", notReady.Content.Headers.ContentType?.MediaType);
            var problem = await notReady.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(("UNAVAILABLE", 503), (problem.GetProperty("code").GetString(), problem.GetProperty("status").GetInt32()));
            Assert.Contains("database", problem.GetProperty("detail").GetString());
            Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
            Assert.NotNull(notReady.Headers.RetryAfter);
        }

        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/healthz")).StatusCode);

        proxy.Restore();
        await Poll.UntilAsync(async () => (await host.Http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "readyz is back to 200");
    }

    [Fact]
    public async Task Without_the_database_a_mode_change_is_503_and_never_served_or_saved_later()
    {
        await using var proxy = ProxyToDatabase();
        await using var host = await ApiHost.StartAsync(ThroughProxy(proxy));
        using var admin = host.Client(host.AdminToken());
        using var player = host.Client((await host.GuestAsync()).Token);
        (await admin.PutAsJsonAsync("/api/admin/config/modes/flight", Flight("Stored"))).EnsureSuccessStatusCode();

        proxy.Cut();
        using var refused = await admin.PutAsJsonAsync("/api/admin/config/modes/flight", Flight("Unacknowledged"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("UNAVAILABLE", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.True(refused.Headers.RetryAfter is not null);
        using var board = await player.GetAsync("/api/games/g1/leaderboard");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, board.StatusCode);

        // Past the nodes' one-second catalog refresh: the refused change is not served.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal("Stored", await FlightNameAsync(host));

        proxy.Restore();
        await Poll.UntilAsync(
            async () => (await admin.PutAsJsonAsync("/api/admin/config/modes/drift", Flight("Drift"))).StatusCode == HttpStatusCode.OK,
            "a change is stored again");
        // The next stored change writes the whole catalog: the refused one must not ride along.
        Assert.Equal("Stored", await FlightNameAsync(host));
    }

    /// <summary>
    /// A burst that holds every connection of the node's pool makes it busy, not unready: taking it out of the
    /// load balancer would only move the burst onto the other nodes, which share the database.
    /// </summary>
    [Fact]
    public async Task Readyz_stays_200_while_the_requests_hold_every_pooled_connection()
    {
        await using var host = await ApiHost.StartAsync(Database.ConnectionString);
        var pool = host.Services.GetRequiredService<NpgsqlDataSource>();
        List<NpgsqlConnection> held = [];
        try
        {
            // Until the pool has none left to give within a second (the silo holds some of them too).
            while (true)
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                try
                {
                    held.Add(await pool.OpenConnectionAsync(wait.Token));
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            Assert.NotEmpty(held);
            using var ready = await host.Http.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }
    }

    /// <summary>A proxy in front of the test database that the test can cut and restore.</summary>
    private TcpProxy ProxyToDatabase()
    {
        var direct = new NpgsqlConnectionStringBuilder(Database.ConnectionString);
        return new TcpProxy(direct.Host!, direct.Port);
    }

    private string ThroughProxy(TcpProxy proxy) =>
        new NpgsqlConnectionStringBuilder(Database.ConnectionString) { Port = proxy.Port, Timeout = 3 }.ConnectionString;

    private static object Flight(string name) => new
    {
        name, maxScorePerSecond = 3000, multiplayer = new { enabled = false, minPlayers = 2, maxPlayers = 4, coop = false },
    };

    private static async Task<string?> FlightNameAsync(ApiHost host) =>
        (await host.Http.GetFromJsonAsync<JsonElement>("/api/config/modes")).EnumerateArray()
            .Single(m => m.GetProperty("id").GetString() == "flight").GetProperty("name").GetString();
}
