using System.Runtime.Serialization;
using Microsoft.AspNetCore.SignalR;
using PlayMusic.Api.Rooms;
using PlayMusic.Competitions;
using PlayMusic.Grains.Competitions;

namespace PlayMusic.Api.Competitions;

/// <summary>
/// This node's end of the live standings (docs/competitions.md): registered in the cluster's
/// <see cref="IStandingsNodesGrain"/>, it receives each tournament's push once and hands it to the SignalR
/// group <c>tournament:{id}</c>. It knows the node's hub connections per player, so that a connection
/// joins the groups of the player's open tournaments when it connects and when the player joins one
/// (on this node or, through the directory, on any other).
/// </summary>
public sealed class StandingsRelay(
    IGrainFactory grains, IHubContext<GameHub> hub, TournamentDirectory tournaments, TimeProvider clock, ILogger<StandingsRelay> logger)
    : BackgroundService, IStandingsObserver
{
    public const string StandingsEvent = "Standings";

    private readonly Dictionary<string, HashSet<string>> _connectionsByPlayer = new(StringComparer.Ordinal);
    private readonly string _nodeId = Guid.NewGuid().ToString("N");
    private IStandingsObserver? _reference;

    private IStandingsObserver Reference => LazyInitializer.EnsureInitialized(ref _reference, () => grains.CreateObjectReference<IStandingsObserver>(this));

    /// <summary>Registers a new hub connection (first, so a join broadcast meanwhile finds it) and adds it to its player's open tournaments.</summary>
    public async Task ConnectedAsync(string connectionId, string playerId)
    {
        lock (_connectionsByPlayer)
        {
            if (!_connectionsByPlayer.TryGetValue(playerId, out var connections))
            {
                _connectionsByPlayer[playerId] = connections = new HashSet<string>(StringComparer.Ordinal);
            }

            connections.Add(connectionId);
        }

        try
        {
            foreach (var tournamentId in await tournaments.JoinedOpenIdsAsync(playerId, clock.GetUtcNow().ToUnixTimeMilliseconds()))
            {
                await hub.Groups.AddToGroupAsync(connectionId, StandingsUpdate.GroupOf(tournamentId));
            }
        }
        catch (Exception e)
        {
            // Rooms work without standings; the player gets them after reconnecting.
            logger.LogWarning(e, "Subscribing connection {ConnectionId} to its tournaments failed", connectionId);
        }
    }

    public void Disconnected(string connectionId, string playerId)
    {
        lock (_connectionsByPlayer)
        {
            if (_connectionsByPlayer.TryGetValue(playerId, out var connections) && connections.Remove(connectionId) && connections.Count == 0)
            {
                _connectionsByPlayer.Remove(playerId);
            }
        }
    }

    /// <summary>Adds the player's connections on this node to the tournament's group.</summary>
    public async Task JoinedAsync(string tournamentId, string playerId)
    {
        string[] connections;
        lock (_connectionsByPlayer)
        {
            connections = _connectionsByPlayer.TryGetValue(playerId, out var set) ? [.. set] : [];
        }

        foreach (var connectionId in connections)
        {
            await hub.Groups.AddToGroupAsync(connectionId, StandingsUpdate.GroupOf(tournamentId));
        }
    }

    public Task OnEntrantJoinedAsync(string tournamentId, string playerId) => JoinedAsync(tournamentId, playerId);

    public Task OnStandingsAsync(StandingsUpdate update)
    {
        hub.Clients.Group(StandingsUpdate.GroupOf(update.TournamentId)).SendAsync(StandingsEvent, StandingsMessage.From(update)).ContinueWith(
            t => logger.LogWarning(t.Exception, "Sending standings of tournament {TournamentId} failed", update.TournamentId),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return Task.CompletedTask;
    }

    /// <summary>Registers at once and then periodically, so the directory forgets this node only after it stops.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(IStandingsNodesGrain.RegisterInterval);
        do
        {
            try
            {
                await grains.GetGrain<IStandingsNodesGrain>(IStandingsNodesGrain.Key).RegisterAsync(_nodeId, Reference);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Registering for tournament standings failed; retrying");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}

/// <summary>
/// The <c>Standings</c> event on the wire. Data-contract names make MessagePack write the same camelCase
/// keys as SignalR's JSON policy does (MessagePack-CSharp honours <c>[DataMember(Name)]</c>).
/// </summary>
[DataContract]
public sealed record StandingsMessage(
    [property: DataMember(Name = "tournamentId")] string TournamentId,
    [property: DataMember(Name = "status")] string Status,
    [property: DataMember(Name = "endsAt")] long EndsAt,
    [property: DataMember(Name = "entries")] IReadOnlyList<StandingsEntryMessage> Entries,
    [property: DataMember(Name = "changes")] IReadOnlyList<StandingChangeMessage> Changes,
    [property: DataMember(Name = "changesTruncated")] bool ChangesTruncated)
{
    public static StandingsMessage From(StandingsUpdate update) => new(
        update.TournamentId, update.Status, update.EndsAt,
        [.. update.Entries.Select(e => new StandingsEntryMessage(e.Rank, e.PlayerId, e.DisplayName, e.Score, e.AchievedAt))],
        [.. update.Changes.Select(c => new StandingChangeMessage(c.PlayerId, c.Rank, c.Score))],
        update.ChangesTruncated);
}

[DataContract]
public sealed record StandingsEntryMessage(
    [property: DataMember(Name = "rank")] long Rank,
    [property: DataMember(Name = "playerId")] string PlayerId,
    [property: DataMember(Name = "displayName")] string DisplayName,
    [property: DataMember(Name = "score")] long Score,
    [property: DataMember(Name = "achievedAt")] long AchievedAt);

[DataContract]
public sealed record StandingChangeMessage(
    [property: DataMember(Name = "playerId")] string PlayerId,
    [property: DataMember(Name = "rank")] long Rank,
    [property: DataMember(Name = "score")] long Score);

public static class StandingsExtensions
{
    /// <summary>The node's standings relay (needs the hub from <c>AddPlayMusicRooms</c>).</summary>
    public static IHostApplicationBuilder AddPlayMusicStandings(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<StandingsRelay>().AddHostedService(sp => sp.GetRequiredService<StandingsRelay>());
        return builder;
    }
}
