using System.Text.Json.Serialization;
using Orleans.Concurrency;

namespace PlayMusic.Competitions;

/// <summary>What an organiser sets; <see cref="Portal"/> scopes the tournament to one partner channel.</summary>
[GenerateSerializer, Immutable]
public sealed record TournamentDefinition(
    string Title,
    string GameId,
    string Mode,
    long StartsAt,
    long EndsAt,
    string? Portal,
    string? Prize,
    int? MaxAttempts);

/// <summary>Wire values of a tournament's <c>status</c>.</summary>
public static class TournamentStatus
{
    public const string Upcoming = "upcoming";
    public const string Live = "live";
    public const string Ended = "ended";
    public const string Cancelled = "cancelled";

    /// <summary>The status the clock gives a tournament that was not cancelled: the window is [startsAt, endsAt).</summary>
    public static string At(long startsAt, long endsAt, long now) =>
        now < startsAt ? Upcoming : now < endsAt ? Live : Ended;
}

/// <summary>PROTOCOL §4 <c>Tournament</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record Tournament(
    string Id,
    string Title,
    string GameId,
    string Mode,
    long StartsAt,
    long EndsAt,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Portal,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Prize,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaxAttempts,
    int Entrants);

public enum TournamentError
{
    None,
    NotFound,
    AlreadyExists,
    AlreadyStarted,
    AlreadyEnded,
    Closed,
    WrongPortal,
}

/// <summary>A tournament operation's outcome: the tournament as it now is, or why not.</summary>
[GenerateSerializer, Immutable]
public sealed record TournamentResult(TournamentError Error, Tournament? Tournament)
{
    public static TournamentResult Fail(TournamentError error) => new(error, null);
}

public enum TournamentRunVerdict
{
    Counted,
    Duplicate,
    NotJoined,
    OutsideWindow,
    WrongPortal,
    AttemptsExhausted,
    Cancelled,
    WrongMode,
}

[GenerateSerializer, Immutable]
public sealed record TournamentRunResult(string TournamentId, TournamentRunVerdict Verdict);

[GenerateSerializer, Immutable]
public sealed record TournamentStandings(Tournament Tournament, LeaderboardPage Page);

/// <summary>
/// One tournament (key: lowercase uuid). It owns its lifecycle (upcoming → live → ended, on time, by
/// a grain timer re-armed by a durable reminder after restarts), its entrants and attempt counts,
/// and feeds counted runs to its board (<see cref="BoardKeys.Tournament"/>).
/// </summary>
public interface ITournamentGrain : IGrainWithStringKey
{
    /// <summary>Creates the tournament; on one that exists, the same definition is a retry (answered alike), another is <see cref="TournamentError.AlreadyExists"/>.</summary>
    Task<TournamentResult> CreateAsync(TournamentDefinition definition);

    Task<TournamentResult> GetAsync();

    /// <summary>Replaces the definition; only before the start.</summary>
    Task<TournamentResult> UpdateAsync(TournamentDefinition definition);

    Task<TournamentResult> CancelAsync();

    /// <param name="portal">the portal the caller plays from, or null when unknown.</param>
    Task<TournamentResult> JoinAsync(string playerId, string? portal);

    /// <summary>
    /// Interleaves with other calls, so one tournament's runs do not queue behind each other's
    /// board writes: the verdict and the attempt are taken before the first await.
    /// </summary>
    [AlwaysInterleave]
    Task<TournamentRunResult> RecordRunAsync(CompletedRun run);

    [AlwaysInterleave]
    Task<TournamentStandings?> GetStandingsAsync(LeaderboardQuery query);

    /// <summary>Activates the grain so that its lifecycle timer is armed (used after a silo start).</summary>
    Task EnsureScheduledAsync();
}
