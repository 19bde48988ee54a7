using System.Collections.Immutable;

namespace PlayMusic.Competitions;

/// <summary>A candidate best score for one player on one board.</summary>
[GenerateSerializer, Immutable]
public sealed record ScoreSubmission(string PlayerId, string DisplayName, long Score, long AchievedAt);

[GenerateSerializer, Immutable]
public sealed record LeaderboardEntry(long Rank, string PlayerId, string DisplayName, long Score, long AchievedAt);

[GenerateSerializer, Immutable]
public sealed record PlayerStanding(long Rank, long Score);

/// <param name="Improved">whether the submission became the player's best on this board.</param>
[GenerateSerializer, Immutable]
public sealed record SubmissionResult(bool Improved, PlayerStanding Standing);

/// <summary>
/// A page of a board: the top <c>limit</c> entries, or, when a player is given and has an entry,
/// the <c>limit</c> entries centred on that player. <see cref="Me"/> is that player's standing.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LeaderboardPage(IReadOnlyList<LeaderboardEntry> Entries, PlayerStanding? Me, long Total);

/// <param name="Limit">page size, 1 to <see cref="MaxLimit"/>.</param>
/// <param name="PlayerId">whose standing to report as <c>me</c>.</param>
/// <param name="AroundPlayer">centre the page on that player instead of the top.</param>
[GenerateSerializer, Immutable]
public sealed record LeaderboardQuery(int Limit, string? PlayerId, bool AroundPlayer)
{
    public const int MaxLimit = 100;
}

/// <summary>
/// One board (key: <see cref="BoardKeys"/>): best score per player, ranked by score descending,
/// then earlier <c>achievedAt</c>. Ranks are answered from memory; a better score is durable in
/// PostgreSQL before <see cref="SubmitAsync"/> returns.
/// </summary>
public interface ILeaderboardGrain : IGrainWithStringKey
{
    /// <summary>
    /// Offers several scores at once (what one process gathered for this board: see the silo's
    /// <c>LeaderboardSubmitter</c>); one result per submission, in order.
    /// </summary>
    Task<ImmutableArray<SubmissionResult>> SubmitAsync(ImmutableArray<ScoreSubmission> submissions);

    Task<LeaderboardPage> GetPageAsync(LeaderboardQuery query);

    /// <summary>Up to <paramref name="count"/> entries in board order from 1-based <paramref name="fromRank"/> (for scans such as standings pushes).</summary>
    Task<IReadOnlyList<LeaderboardEntry>> GetRangeAsync(long fromRank, int count);
}

/// <summary>The keys of board grains (also the <c>board</c> column of their table).</summary>
public static class BoardKeys
{
    public static string Global(string gameId) => $"game/{gameId}/global";

    public static string Portal(string gameId, string portal) => $"game/{gameId}/portal/{portal}";

    public static string Tournament(string tournamentId) => $"tournament/{tournamentId}";
}
