using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

/// <summary>
/// QuickMatch for one mode+song. Orleans runs its calls one at a time, so two concurrent QuickMatch
/// calls cannot both create a room: the second finds the first's lobby. Its list of open lobbies is
/// soft state (rooms re-offer themselves on every membership change); a stale entry only costs a
/// refused join.
/// </summary>
public sealed class MatchmakerGrain : Grain, IMatchmakerGrain
{
    private readonly Dictionary<string, OpenLobby> _lobbies = [];

    public async Task<SeatGrant> QuickMatchAsync(RoomMember member, string connectionId, RoomNode node, long songDurationMs, int? maxPlayers)
    {
        var candidates = _lobbies
            .Where(l => maxPlayers is null || l.Value.MaxPlayers == maxPlayers)
            .OrderByDescending(l => l.Value.Players).ThenBy(l => l.Key, StringComparer.Ordinal)
            .Select(l => l.Key)
            .ToList();
        foreach (var roomId in candidates)
        {
            try
            {
                var grant = await GrainFactory.GetGrain<IGameRoomGrain>(roomId).JoinAsync(member, connectionId, node, publicLobbyOnly: true);
                Track(roomId, grant.Joined.Room);
                return grant;
            }
            catch (RoomException e) when (e.Code is RoomErrors.RoomFull or RoomErrors.RoomNotJoinable or RoomErrors.RoomNotFound)
            {
                _lobbies.Remove(roomId);
            }
        }

        var (mode, songId) = ParseKey();
        var newRoomId = Guid.NewGuid().ToString();
        var created = await GrainFactory.GetGrain<IGameRoomGrain>(newRoomId).CreateAsync(
            new CreateRoomCommand(mode, songId, songDurationMs, maxPlayers, IsPrivate: false, RawJson.EmptyObject), member, connectionId, node);
        Track(newRoomId, created.Joined.Room);
        return created;
    }

    public Task OfferAsync(string roomId, int players, int maxPlayers)
    {
        _lobbies[roomId] = new OpenLobby(players, maxPlayers);
        return Task.CompletedTask;
    }

    public Task WithdrawAsync(string roomId)
    {
        _lobbies.Remove(roomId);
        return Task.CompletedTask;
    }

    private void Track(string roomId, RoomView room)
    {
        if (room.State == RoomPhase.Lobby && room.Players.Count < room.MaxPlayers)
        {
            _lobbies[roomId] = new OpenLobby(room.Players.Count, room.MaxPlayers);
        }
        else
        {
            _lobbies.Remove(roomId);
        }
    }

    private (string Mode, string SongId) ParseKey()
    {
        var key = this.GetPrimaryKeyString();
        var slash = key.IndexOf('/');
        return (key[..slash], key[(slash + 1)..]);
    }

    private readonly record struct OpenLobby(int Players, int MaxPlayers);
}
