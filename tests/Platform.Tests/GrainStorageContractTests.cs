using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

/// <summary>
/// The grain-storage queries of our migrations as the Orleans ADO.NET provider uses them: a write or a clear
/// computed from a version that another activation has since moved on from is a conflict, never a silent success.
/// </summary>
public sealed class GrainStorageContractTests : DatabaseTest
{
    private const string StateName = "contract-test";

    [Fact]
    public async Task A_write_or_clear_from_a_stale_version_is_a_conflict_and_leaves_the_newer_state()
    {
        await using var host = await ApiHost.StartAsync(Database.ConnectionString);
        var storage = host.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Config);
        var grainId = GrainId.Create("contract-test", Guid.NewGuid().ToString());

        // Two activations of one grain (a split brain): the second writes after the first last did.
        var first = new GrainState<List<string>>(["first"]);
        await storage.WriteStateAsync(StateName, grainId, first);
        var second = new GrainState<List<string>>();
        await storage.ReadStateAsync(StateName, grainId, second);
        second.State = ["second"];
        await storage.WriteStateAsync(StateName, grainId, second);

        first.State = ["first again"];
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(StateName, grainId, first));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync(StateName, grainId, first));
        var stored = new GrainState<List<string>>();
        await storage.ReadStateAsync(StateName, grainId, stored);
        Assert.Equal(["second"], stored.State);

        // The activation that is current clears it.
        await storage.ClearStateAsync(StateName, grainId, second);
        await storage.ReadStateAsync(StateName, grainId, stored);
        Assert.Empty(stored.State!);
    }
}
