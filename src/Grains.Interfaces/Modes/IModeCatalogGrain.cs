namespace PlayMusic.Modes;

/// <summary>The single authority for the mode catalog; key <see cref="Key"/>.</summary>
public interface IModeCatalogGrain : IGrainWithStringKey
{
    const string Key = "catalog";

    Task<ModeCatalog> GetAsync();

    /// <summary>Creates or replaces one mode and returns the new catalog.</summary>
    /// <param name="ifMatch">
    /// entity tags (<see cref="ModeCatalog.EntityTagOf"/>) of which the catalog's must be one for the change to be
    /// made, or null for no precondition.
    /// </param>
    Task<ModePutResult> PutAsync(GameMode mode, IReadOnlyList<string>? ifMatch);
}
