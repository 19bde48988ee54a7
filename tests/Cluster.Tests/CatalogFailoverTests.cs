using System.Net;
using System.Net.Http.Json;
using PlayMusic.Modes;
using PlayMusic.TestSupport;

namespace PlayMusic.Cluster.Tests;

/// <summary>Two silos and two client-only API nodes as separate processes on one database.</summary>
public sealed class CatalogFailoverTests : DatabaseTest
{
    [Fact]
    public async Task A_LiveOps_change_reaches_every_API_node_and_survives_losing_either_silo()
    {
        await using var cluster = await LocalCluster.StartAsync(Database.ConnectionString, silos: 2, apis: 2);
        using var first = cluster.AdminClient(1);
        using var second = cluster.AdminClient(2);

        (await first.PutAsJsonAsync("/api/admin/config/modes/flight", Mode(3100))).EnsureSuccessStatusCode();
        await Poll.UntilAsync(async () => await FlightCap(second) == 3100, "the other API node serves the change");

        cluster.Kill("silo-1");
        await Poll.UntilAsync(
            async () => await StatusOf(() => second.PutAsJsonAsync("/api/admin/config/modes/flight", Mode(3200))) == HttpStatusCode.OK,
            "the catalog grain answers again on the surviving silo");
        await Poll.UntilAsync(async () => await FlightCap(first) == 3200, "the first API node serves the change");

        await cluster.RestartAsync("silo-1");
        cluster.Kill("silo-2");
        await Poll.UntilAsync(async () => await StatusOf(() => first.GetAsync("/readyz")) == HttpStatusCode.OK, "api-1 ready on silo-1 alone");
        Assert.Equal(3200, await FlightCap(first));
        await Poll.UntilAsync(
            async () => await StatusOf(() => first.PutAsJsonAsync("/api/admin/config/modes/flight", Mode(3300))) == HttpStatusCode.OK,
            "the catalog grain answers on the restarted silo");
        await Poll.UntilAsync(async () => await FlightCap(second) == 3300, "api-2 serves the latest change");
    }

    private static object Mode(int cap) => new
    {
        name = "Flight",
        maxScorePerSecond = cap,
        multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 4, coop = false },
    };

    /// <summary>The status of a request, or null while the node cannot answer at all.</summary>
    private static async Task<HttpStatusCode?> StatusOf(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            using var response = await send();
            return response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    private static async Task<int?> FlightCap(HttpClient client)
    {
        try
        {
            var modes = await client.GetFromJsonAsync<List<GameMode>>("/api/config/modes");
            return modes?.Single(m => m.Id == "flight").MaxScorePerSecond;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }
}
