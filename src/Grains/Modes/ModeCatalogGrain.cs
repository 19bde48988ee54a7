using Orleans.Runtime;
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
    [PersistentState("modes", StorageNames.Config)] IPersistentState<ModeCatalogState> state,
    IOptions<ModeCatalogOptions> defaults) : Grain, IModeCatalogGrain
{
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

    private ModeCatalog Snapshot() => state.State.Version == 0
        ? new ModeCatalog(0, defaults.Value.Modes)
        : new ModeCatalog(state.State.Version, state.State.Modes);
}
