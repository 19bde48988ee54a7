namespace PlayMusic.Modes;

/// <summary>
/// The mode catalog as last stored, read by whichever silo the call reaches (a stateless worker: no hop to the
/// catalog grain's silo). Nodes refresh their copy through it, so a change still reaches them while the cluster is
/// declaring the catalog grain's silo dead. Every key reads the same catalog (callers change keys to get another route).
/// </summary>
public interface IModeCatalogReaderGrain : IGrainWithIntegerKey
{
    Task<ModeCatalog> GetAsync();
}
