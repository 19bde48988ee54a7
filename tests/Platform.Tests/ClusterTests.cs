using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using PlayMusic.Modes;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

public sealed class ClusterTests : DatabaseTest
{
    private static readonly object FlightEnabled = new
    {
        name = "Flight",
        maxScorePerSecond = 4321,
        multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 3, coop = false },
    };

    [Fact]
    public async Task Two_silos_on_one_database_form_one_cluster_and_share_grains()
    {
        await using var first = await ApiHost.StartAsync(Database.ConnectionString);
        await using var second = await ApiHost.StartAsync(Database.ConnectionString);

        await Poll.UntilAsync(() => ActiveSilos(first) == 2 && ActiveSilos(second) == 2, "both silos see two active members");
        Assert.Equal(2L, await Database.ScalarAsync<long>("SELECT count(*) FROM OrleansMembershipTable WHERE Status = 3"));

        using var admin = first.Client(first.AdminToken());
        (await admin.PutAsJsonAsync("/api/admin/config/modes/flight", FlightEnabled)).EnsureSuccessStatusCode();

        // The catalog grain has one activation in the cluster: the other silo reads the new value at once.
        var seenBySecond = await second.Services.GetRequiredService<IGrainFactory>()
            .GetGrain<IModeCatalogGrain>(IModeCatalogGrain.Key).GetAsync();
        Assert.Equal(4321, seenBySecond.Find("flight")!.MaxScorePerSecond);

        // API nodes refresh through the reader, which reads the stored catalog on the silo the call reaches.
        var readBySecond = await second.Services.GetRequiredService<IGrainFactory>().GetGrain<IModeCatalogReaderGrain>(0).GetAsync();
        Assert.Equal((seenBySecond.Version, 4321), (readBySecond.Version, readBySecond.Find("flight")!.MaxScorePerSecond));
    }

    [Fact]
    public async Task Persisted_grain_state_survives_a_silo_restart()
    {
        await using (var before = await ApiHost.StartAsync(Database.ConnectionString))
        {
            using var admin = before.Client(before.AdminToken());
            (await admin.PutAsJsonAsync("/api/admin/config/modes/flight", FlightEnabled)).EnsureSuccessStatusCode();
        }

        await using var after = await ApiHost.StartAsync(Database.ConnectionString);
        var modes = await after.Http.GetFromJsonAsync<List<GameMode>>("/api/config/modes");

        var flight = Assert.Single(modes!, m => m.Id == "flight");
        Assert.True(flight.Multiplayer.Enabled);
        Assert.Equal(4321, flight.MaxScorePerSecond);
        Assert.Equal(3, flight.Multiplayer.MaxPlayers);
    }

    private static int ActiveSilos(ApiHost host) =>
        host.Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
}
