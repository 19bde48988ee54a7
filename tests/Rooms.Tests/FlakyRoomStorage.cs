using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using PlayMusic.Grains.Rooms;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// A switch in front of the silo's real rooms storage (PostgreSQL): while <see cref="FailRoomWrites"/> is set,
/// writes of game rooms' state throw as a database blip would (other grains of that storage still write);
/// while <see cref="LoseRoomWriteReplies"/> is set, they are stored and then throw.
/// Records which phase each successful room write stored.
/// </summary>
public sealed class FlakyRoomStorage
{
    private const string RoomStateName = "room";

    public bool FailRoomWrites { get; set; }

    /// <summary>Room writes are stored, but throw as if the reply was lost: the grain keeps its old version.</summary>
    public bool LoseRoomWriteReplies { get; set; }

    public ConcurrentQueue<(string RoomId, string Phase)> Stored { get; } = new();

    /// <summary>Wraps the "rooms" provider that <c>AddPlayMusicSilo</c> registered (call after it).</summary>
    public void InstallIn(IServiceCollection services)
    {
        var registered = services.Single(d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, StorageNames.Rooms));
        var create = registered.KeyedImplementationFactory!;
        services.Remove(registered);
        services.AddKeyedSingleton<IGrainStorage>(StorageNames.Rooms, (sp, key) => new Wrapper((IGrainStorage)create(sp, key), this));
    }

    private sealed class Wrapper(IGrainStorage inner, FlakyRoomStorage flaky) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (stateName == RoomStateName && flaky.FailRoomWrites)
            {
                throw new InvalidOperationException("the database is unreachable (test)");
            }

            var version = grainState.ETag;
            await inner.WriteStateAsync(stateName, grainId, grainState);
            if (grainState.State is GameRoomState room)
            {
                flaky.Stored.Enqueue((grainId.Key.ToString()!, room.Phase));
                if (flaky.LoseRoomWriteReplies)
                {
                    grainState.ETag = version;
                    throw new TimeoutException("the reply to a stored write was lost (test)");
                }
            }
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);

        // The ADO.NET provider initialises itself in the silo's lifecycle (Orleans registers the keyed storage as a participant).
        public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);
    }
}
