using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace PlayMusic.TestSupport;

/// <summary>
/// A grain storage in front of the silo's real one (PostgreSQL), for tests that make writes fail as a database
/// would: subclasses override what they change and pass the rest through.
/// </summary>
public abstract class DelegatingGrainStorage(IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Replaces the storage registered as <paramref name="storageName"/> (call after the silo registered it).</summary>
    public static void Install(IServiceCollection services, string storageName, Func<IGrainStorage, IGrainStorage> decorate)
    {
        var registered = services.Single(d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, storageName));
        var create = registered.KeyedImplementationFactory!;
        services.Remove(registered);
        services.AddKeyedSingleton(storageName, (sp, key) => decorate((IGrainStorage)create(sp, key)));
    }

    public virtual Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public virtual Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.WriteStateAsync(stateName, grainId, grainState);

    public virtual Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);

    // The ADO.NET provider initialises itself in the silo's lifecycle (Orleans registers the keyed storage as a participant).
    public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);
}
