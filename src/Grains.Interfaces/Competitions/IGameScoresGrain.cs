namespace PlayMusic.Competitions;

/// <summary>
/// One finished run whose score may count: from a completed session (<c>/api/sessions/{id}/end</c>)
/// or a multiplayer <c>Results</c>. <see cref="RunId"/> makes recording idempotent; <see cref="EndedAt"/>
/// is the server's time (epoch ms) at which the run ended and decides which tournament windows it falls in.
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

public enum RunVerdict
{
    /// <summary>Recorded on the game's boards (whether or not it beat the player's best).</summary>
    Accepted,

    /// <summary>Malformed, unknown mode, or above the mode's plausibility cap: recorded nowhere.</summary>
    Rejected,

    /// <summary>This run id was offered before; nothing changed.</summary>
    Duplicate,
}

/// <summary>What became of a run; <see cref="Tournaments"/> lists each joined tournament that was considered.</summary>
[GenerateSerializer, Immutable]
public sealed record RunRecordResult(RunVerdict Verdict, string? Reason, IReadOnlyList<TournamentRunResult> Tournaments);

/// <summary>
/// The entry point of scores into competitions for one game (key: gameId): it checks the score
/// against the mode's plausibility cap and records it, durably, on the game's leaderboards and
/// on every tournament of that game the player has joined whose window contains the run's end.
/// There is deliberately no HTTP endpoint that posts a score.
/// </summary>
public interface IGameScoresGrain : IGrainWithStringKey
{
    Task<RunRecordResult> RecordAsync(CompletedRun run);
}
