using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using PlayMusic.Grains.Rooms;
using PlayMusic.TestSupport;

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

    private int _refusedRoomWrites;

    /// <summary>Room writes refused while <see cref="FailRoomWrites"/> was set.</summary>
    public int RefusedRoomWrites => Volatile.Read(ref _refusedRoomWrites);

    /// <summary>Wraps the "rooms" provider that <c>AddPlayMusicSilo</c> registered (call after it).</summary>
    public void InstallIn(IServiceCollection services) =>
        DelegatingGrainStorage.Install(services, StorageNames.Rooms, inner => new Wrapper(inner, this));

    private sealed class Wrapper(IGrainStorage inner, FlakyRoomStorage flaky) : DelegatingGrainStorage(inner)
    {
        public override async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (stateName == RoomStateName && flaky.FailRoomWrites)
            {
                Interlocked.Increment(ref flaky._refusedRoomWrites);
                throw new InvalidOperationException("the database is unreachable (test)");
            }

            var version = grainState.ETag;
            await base.WriteStateAsync(stateName, grainId, grainState);
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
    }
}
