using Orleans.Concurrency;
using Orleans.Runtime;
using Orleans.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PlayMusic.Modes;

namespace PlayMusic.Grains.Modes;

[GenerateSerializer]
public sealed class ModeCatalogState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public List<GameMode> Modes { get; set; } = [];
}

/// <summary>
/// Holds the LiveOps mode catalog. Until an operator changes a mode it serves the built-in
/// defaults (<see cref="ModeCatalogOptions"/>); the first change persists the whole catalog, so later default edits only affect
/// fresh databases.
/// </summary>
public sealed class ModeCatalogGrain(
    [PersistentState(ModeCatalogGrain.StateName, StorageNames.Config)] IPersistentState<ModeCatalogState> state,
    IOptions<ModeCatalogOptions> defaults) : Grain, IModeCatalogGrain
{
    /// <summary>The catalog's state name (<see cref="ModeCatalogReaderGrain"/> reads the same row).</summary>
    public const string StateName = "modes";

    public Task<ModeCatalog> GetAsync() => Task.FromResult(Snapshot());

    public async Task<ModePutResult> PutAsync(GameMode mode, IReadOnlyList<string>? ifMatch)
    {
        var current = Snapshot();
        if (ifMatch is not null && !ifMatch.Contains(ModeCatalog.EntityTagOf(current.ToJson())))
        {
            return new ModePutResult(ModePutError.CatalogChanged, current);
        }

        if (current.Find(mode.Id) is null && current.Modes.Count >= ModeCatalog.MaxModes)
        {
            return new ModePutResult(ModePutError.CatalogFull, current);
        }

        var (previousModes, previousVersion) = (state.State.Modes, state.State.Version);
        state.State.Modes = current.Modes.Where(m => m.Id != mode.Id).Append(mode).OrderBy(m => m.Id, StringComparer.Ordinal).ToList();
        state.State.Version++;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not acknowledged, so not served. The write may still have landed (a lost reply): the next
            // activation reads what storage holds rather than guessing.
            (state.State.Modes, state.State.Version) = (previousModes, previousVersion);
            DeactivateOnIdle();
            throw;
        }

        return new ModePutResult(ModePutError.None, Snapshot());
    }

    private ModeCatalog Snapshot() => SnapshotOf(state.State, defaults.Value);

    /// <summary>The catalog a stored state stands for: the built-in defaults until the first change.</summary>
    internal static ModeCatalog SnapshotOf(ModeCatalogState stored, ModeCatalogOptions defaults) => stored.Version == 0
        ? new ModeCatalog(0, defaults.Modes)
        : new ModeCatalog(stored.Version, stored.Modes);
}

/// <summary>Reads the catalog grain's stored state from PostgreSQL on the silo the call reaches.</summary>
[StatelessWorker(1)]
public sealed class ModeCatalogReaderGrain(
    [FromKeyedServices(StorageNames.Config)] IGrainStorage storage,
    IOptions<ModeCatalogOptions> defaults) : Grain, IModeCatalogReaderGrain
{
    public async Task<ModeCatalog> GetAsync()
    {
        var stored = new GrainState<ModeCatalogState>(new ModeCatalogState());
        var catalog = GrainFactory.GetGrain<IModeCatalogGrain>(IModeCatalogGrain.Key).GetGrainId();
        await storage.ReadStateAsync(ModeCatalogGrain.StateName, catalog, stored);
        return ModeCatalogGrain.SnapshotOf(stored.State ?? new ModeCatalogState(), defaults.Value);
    }
}
