namespace PlayMusic.Modes;

/// <summary>The single authority for the mode catalog; key <see cref="Key"/>.</summary>
public interface IModeCatalogGrain : IGrainWithStringKey
{
    const string Key = "catalog";

    Task<ModeCatalog> GetAsync();

    /// <summary>Creates or replaces one mode and returns the new catalog.</summary>
    Task<ModeCatalog> PutAsync(GameMode mode);
}
