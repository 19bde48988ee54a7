using Orleans.Concurrency;

namespace PlayMusic.Competitions;

/// <summary>A player whose rank or score on a tournament board changed since the previous push.</summary>
[GenerateSerializer, Immutable]
public sealed record StandingChange(string PlayerId, long Rank, long Score);

/// <summary>
/// One live-standings push of a tournament (the hub's <c>Standings</c> event): its top entries and the
/// players whose rank or score changed since the previous push, best rank first, at most
/// <see cref="MaxChanges"/> (<see cref="ChangesTruncated"/> says when more changed).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StandingsUpdate(
    string TournamentId,
    string Status,
    long EndsAt,
    IReadOnlyList<LeaderboardEntry> Entries,
    IReadOnlyList<StandingChange> Changes,
    bool ChangesTruncated)
{
    public const int TopEntries = 10;
    public const int MaxChanges = 500;

    /// <summary>The SignalR group of a tournament's listeners on each node.</summary>
    public static string GroupOf(string tournamentId) => "tournament:" + tournamentId;
}

/// <summary>An API node's end of the standings fan-out: called one-way, once per node, never per player.</summary>
public interface IStandingsObserver : IGrainObserver
{
    [OneWay] Task OnStandingsAsync(StandingsUpdate update);

    /// <summary>A player joined a tournament (on any node): the node adds that player's local connections to its group.</summary>
    [OneWay] Task OnEntrantJoinedAsync(string tournamentId, string playerId);
}

/// <summary>
/// The nodes known now; <see cref="Complete"/> is false while a new activation of the directory may still be
/// missing live nodes (less than one <see cref="IStandingsNodesGrain.RegisterInterval"/> since it began).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StandingsNodeList(IReadOnlyList<IStandingsObserver> Nodes, bool Complete);

/// <summary>
/// The cluster's API nodes that relay standings (key: <see cref="Key"/>). Held in memory only: each node
/// re-registers every <see cref="RegisterInterval"/> and is forgotten after <see cref="Expiry"/> without
/// one, so a dead node drops out and a restarted directory is refilled within one interval.
/// </summary>
public interface IStandingsNodesGrain : IGrainWithStringKey
{
    public const string Key = "all";
    public static readonly TimeSpan RegisterInterval = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(20);

    Task RegisterAsync(string nodeId, IStandingsObserver observer);

    [AlwaysInterleave]
    Task<StandingsNodeList> GetNodesAsync();
}
