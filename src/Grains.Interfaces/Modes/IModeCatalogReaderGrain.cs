namespace PlayMusic.Modes;

/// <summary>
/// The mode catalog as last stored, read by whichever silo the call reaches (a stateless worker: no hop to the
/// catalog grain's silo). API nodes refresh their copy through it, so a change still reaches them while the
/// cluster is declaring the catalog grain's silo dead. Key 0.
/// </summary>
public interface IModeCatalogReaderGrain : IGrainWithIntegerKey
{
    Task<ModeCatalog> GetAsync();
}
