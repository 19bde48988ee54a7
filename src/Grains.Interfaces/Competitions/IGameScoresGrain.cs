namespace PlayMusic.Competitions;

/// <summary>
/// One finished run whose score may count: from a completed session (<c>/api/sessions/{id}/end</c>)
/// or a multiplayer <c>Results</c>. <see cref="RunId"/> makes recording idempotent.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record CompletedRun(
    string RunId,
    string PlayerId,
    string DisplayName,
    string GameId,
    string Mode,
    string Portal,
    long Score,
    long DurationMs,
    long EndedAt);

/// <summary>
/// The entry point of scores into competitions for one game (key: gameId): it checks the score
/// against the mode's plausibility cap and records it, durably, on the game's leaderboards and
/// on every live tournament of that game the player has joined.
/// </summary>
public interface IGameScoresGrain : IGrainWithStringKey
{
    Task RecordAsync(CompletedRun run);
}
