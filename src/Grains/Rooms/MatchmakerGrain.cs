using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

[GenerateSerializer]
public sealed class MatchmakerState
{
    [Id(0)] public Dictionary<string, OpenLobby> Lobbies { get; set; } = [];
}

[GenerateSerializer, Immutable]
public readonly record struct OpenLobby(int Players, int MaxPlayers);

/// <summary>
/// QuickMatch for one mode+song. Orleans runs its calls one at a time, so two concurrent QuickMatch
/// calls cannot both create a room: the second finds the first's lobby. Its list of open lobbies is
/// persisted: rooms offer themselves only when their membership changes, so a lobby waiting longer
/// than the matchmaker's idle lifetime (or across a silo loss) would otherwise never be offered again.
/// A stale entry only costs a refused join.
/// </summary>
public sealed class MatchmakerGrain(
    [PersistentState("matchmaker", StorageNames.Rooms)] IPersistentState<MatchmakerState> state, ILogger<MatchmakerGrain> logger)
    : Grain, IMatchmakerGrain
{
    private Dictionary<string, OpenLobby> Lobbies => state.State.Lobbies;

    public async Task<SeatGrant> QuickMatchAsync(RoomMember member, string connectionId, RoomNode node, long songDurationMs, int? maxPlayers)
    {
        // Lobbies opened before LiveOps turned the mode's multiplayer off take no one new either.
        var (mode, songId) = ParseKey();
        // A size the mode no longer allows is refused whether or not an older lobby of that size is waiting.
        MultiplayerModes.SeatsFor(await MultiplayerModes.RequireAsync(GrainFactory, mode), maxPlayers);
        var candidates = Lobbies
            .Where(l => maxPlayers is null || l.Value.MaxPlayers == maxPlayers)
            .OrderByDescending(l => l.Value.Players).ThenBy(l => l.Key, StringComparer.Ordinal)
            .Select(l => l.Key)
            .ToList();
        foreach (var roomId in candidates)
        {
            var room = GrainFactory.GetGrain<IGameRoomGrain>(roomId);
            try
            {
                var grant = await room.JoinAsync(member, connectionId, node, publicLobbyOnly: true);
                await TrackAsync(roomId, grant.Joined.Room);
                return grant;
            }
            catch (RoomException e) when (e.Code is RoomErrors.RoomFull or RoomErrors.RoomNotJoinable or RoomErrors.RoomNotFound)
            {
                Lobbies.Remove(roomId);
            }
            catch (RoomException e) when (e.Code == RoomErrors.Unavailable)
            {
                await ReleaseUnstoredSeatAsync(room, member.PlayerId, connectionId);
                throw;
            }
        }

        var newRoomId = Guid.NewGuid().ToString();
        var created = await GrainFactory.GetGrain<IGameRoomGrain>(newRoomId).CreateAsync(
            new CreateRoomCommand(mode, songId, songDurationMs, maxPlayers, IsPrivate: false, RawJson.EmptyObject), member, connectionId, node);
        await TrackAsync(newRoomId, created.Joined.Room);
        return created;
    }

    /// <summary>
    /// The room seated the player but could not store it (UNAVAILABLE). The hub never learns which room that was,
    /// so nothing on its side would release a seat shown as connected if the client gave up: its grace starts now,
    /// as the hub does for a JoinRoom answered so. A QuickMatch sent again connects it again.
    /// </summary>
    private async Task ReleaseUnstoredSeatAsync(IGameRoomGrain room, string playerId, string connectionId)
    {
        try
        {
            await room.DisconnectAsync(playerId, connectionId);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Connection {ConnectionId} could not release its unstored seat in room {RoomId}", connectionId, room.GetPrimaryKeyString());
        }
    }

    public async Task OfferAsync(string roomId, int players, int maxPlayers)
    {
        Lobbies[roomId] = new OpenLobby(players, maxPlayers);
        await state.WriteStateAsync();
    }

    public async Task WithdrawAsync(string roomId)
    {
        if (Lobbies.Remove(roomId))
        {
            await state.WriteStateAsync();
        }
    }

    /// <summary>Also writes the lobbies refused on the way (removed above), in the same write.</summary>
    private async Task TrackAsync(string roomId, RoomView room)
    {
        if (room.State == RoomPhase.Lobby && room.Players.Count < room.MaxPlayers)
        {
            Lobbies[roomId] = new OpenLobby(room.Players.Count, room.MaxPlayers);
        }
        else
        {
            Lobbies.Remove(roomId);
        }

        await state.WriteStateAsync();
    }

    private (string Mode, string SongId) ParseKey()
    {
        var key = this.GetPrimaryKeyString();
        var slash = key.IndexOf('/');
        return (key[..slash], key[(slash + 1)..]);
    }
}
