using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using PlayMusic.Api.Competitions;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Api.Modes;
using PlayMusic.Api.Telemetry;
using PlayMusic.Competitions;
using PlayMusic.Grains.Competitions;

namespace PlayMusic.Api.Apis;

/// <summary>Body of create (all of title, gameId, mode, startsAt, endsAt required) and of PATCH (absent fields keep their value).</summary>
public sealed record TournamentRequest(
    string? Title,
    string? GameId,
    string? Mode,
    long? StartsAt,
    long? EndsAt,
    int? MaxAttempts,
    string? Portal,
    string? Prize);

/// <summary>PROTOCOL §4 standings: the leaderboard shape plus the tournament's status and end.</summary>
public sealed record StandingsResponse(
    string Scope,
    IReadOnlyList<LeaderboardEntry> Entries,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PlayerStanding? Me,
    string Status,
    long EndsAt);

public static partial class TournamentsApi
{
    public const string ClosedCode = "TOURNAMENT_CLOSED";
    public const string StartedCode = "TOURNAMENT_STARTED";
    public const string EndedCode = "TOURNAMENT_ENDED";
    public const string WrongPortalCode = "WRONG_PORTAL";
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string IdempotencyKeyReusedCode = "IDEMPOTENCY_KEY_REUSED";
    public const int MaxTitleLength = 100;
    public const int MaxPrizeLength = 200;
    public const int MaxAttemptsLimit = 1000;
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(90);
    public static readonly TimeSpan MaxLeadTime = TimeSpan.FromDays(365);
    private static readonly TimeSpan StartNowSlack = TimeSpan.FromSeconds(5);

    public static IEndpointRouteBuilder MapTournamentsApi(this IEndpointRouteBuilder endpoints)
    {
        var admin = endpoints.MapAdminGroup("/api/admin/tournaments");
        admin.MapPost("", Create);
        admin.MapPatch("/{id}", Update);
        admin.MapDelete("/{id}", Cancel);

        var open = endpoints.MapGroup("/api/tournaments").RequireAuthorization();
        open.MapGet("", List);
        open.MapGet("/{id}", Get);
        open.MapPost("/{id}/join", Join);
        open.MapGet("/{id}/standings", Standings);
        return endpoints;
    }

    /// <summary>
    /// An <c>Idempotency-Key</c> header makes a create safe to send again: the key names the tournament, so a retry
    /// whose first answer was lost (a crash, a dropped connection) answers with the tournament the first one made
    /// instead of making a second; the same key with another body is 409.
    /// </summary>
    private static async Task<Results<Created<Tournament>, ProblemHttpResult>> Create(
        TournamentRequest? request, HttpContext context, IGrainFactory grains, ModeCatalogCache modes, PortalRegistry portals, TimeProvider clock)
    {
        var key = context.Request.Headers[IdempotencyKeyHeader];
        if (key.Count > 1 || (key.Count == 1 && !IdempotencyKeyPattern().IsMatch(key[0]!)))
        {
            return ApiProblem.Invalid(IdempotencyKeyHeader, "must be one value of 1 to 128 printable ASCII characters");
        }

        if (request is null)
        {
            return ApiProblem.MissingBody();
        }

        if (request.Title is null || request.GameId is null || request.Mode is null || request.StartsAt is null || request.EndsAt is null)
        {
            var missing = request.Title is null ? "title" : request.GameId is null ? "gameId" : request.Mode is null ? "mode"
                : request.StartsAt is null ? "startsAt" : "endsAt";
            return ApiProblem.Invalid(missing, "is required");
        }

        var definition = new TournamentDefinition(request.Title.Trim(), request.GameId, request.Mode, request.StartsAt.Value,
            request.EndsAt.Value, request.Portal, request.Prize?.Trim(), request.MaxAttempts);
        if ((await ProblemWith(definition, modes, clock) ?? await UnregisteredPortal(request.Portal, portals)) is { } problem)
        {
            return problem;
        }

        var id = (key.Count == 1 ? IdFor(key[0]!) : Guid.NewGuid()).ToString();
        var result = await grains.GetGrain<ITournamentGrain>(id).CreateAsync(definition);
        return result switch
        {
            { Tournament: { } tournament } => TypedResults.Created($"/api/tournaments/{id}", tournament),
            { Error: TournamentError.AlreadyExists } => ApiProblem.Conflict(IdempotencyKeyReusedCode,
                $"{IdempotencyKeyHeader} {key} already created tournament {id} with another body (or it was edited since)"),
            _ => ProblemFor(result.Error, id),
        };
    }

    /// <summary>The tournament an idempotency key names: a name-based uuid (SHA-256 of the key, version 8 bits).</summary>
    private static Guid IdFor(string idempotencyKey)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes("playmusic:tournament:" + idempotencyKey), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    private static async Task<Results<Ok<Tournament>, ProblemHttpResult>> Update(
        string id, TournamentRequest? request, IGrainFactory grains, ModeCatalogCache modes, PortalRegistry portals, TimeProvider clock)
    {
        if (!Guid.TryParseExact(id, "D", out _))
        {
            return ApiProblem.Invalid("id", "must be a uuid");
        }

        var grain = grains.GetGrain<ITournamentGrain>(id.ToLowerInvariant());
        if ((await grain.GetAsync()).Tournament is not { } current)
        {
            return ProblemFor(TournamentError.NotFound, id);
        }

        // A started, ended or cancelled tournament cannot be edited whatever the body says (the grain checks again).
        if (current.Status != TournamentStatus.Upcoming)
        {
            return ProblemFor(TournamentError.AlreadyStarted, id);
        }

        if (request is null)
        {
            return ApiProblem.MissingBody();
        }

        // Moving the start of an upcoming tournament into the past would open a window whose earlier runs were already
        // refused as outside it. "Start now" sent from a browser arrives a moment late: up to StartNowSlack is now.
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (request.StartsAt < now - (long)StartNowSlack.TotalMilliseconds)
        {
            return ApiProblem.Invalid("startsAt", "an upcoming tournament cannot start in the past: send the current time or later");
        }

        var definition = new TournamentDefinition(
            request.Title?.Trim() ?? current.Title, request.GameId ?? current.GameId, request.Mode ?? current.Mode,
            request.StartsAt is { } startsAt ? Math.Max(startsAt, now) : current.StartsAt, request.EndsAt ?? current.EndsAt, request.Portal ?? current.Portal,
            request.Prize?.Trim() ?? current.Prize, request.MaxAttempts ?? current.MaxAttempts);
        if ((await ProblemWith(definition, modes, clock) ?? await UnregisteredPortal(request.Portal, portals)) is { } problem)
        {
            return problem;
        }

        return Reply(await grain.UpdateAsync(definition), id);
    }

    private static async Task<Results<Ok<Tournament>, ProblemHttpResult>> Cancel(string id, IGrainFactory grains) =>
        Guid.TryParseExact(id, "D", out _)
            ? Reply(await grains.GetGrain<ITournamentGrain>(id.ToLowerInvariant()).CancelAsync(), id)
            : ApiProblem.Invalid("id", "must be a uuid");

    private static async Task<Results<Ok<IReadOnlyList<Tournament>>, ProblemHttpResult>> List(
        string? status, string? portal, TournamentDirectory directory, TimeProvider clock)
    {
        (status, portal) = (QueryFilter.Optional(status), QueryFilter.Optional(portal));
        if (status is not (null or TournamentStatus.Upcoming or TournamentStatus.Live or TournamentStatus.Ended))
        {
            return ApiProblem.Invalid("status", "must be upcoming, live or ended");
        }

        if (portal is not null && !LeaderboardApi.IsPortal(portal))
        {
            return ApiProblem.Invalid("portal", "must be 1 to 32 characters of a-z 0-9 _ -");
        }

        return TypedResults.Ok(await directory.ListAsync(status, portal, clock.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    private static async Task<Results<Ok<Tournament>, ProblemHttpResult>> Get(string id, IGrainFactory grains) =>
        Guid.TryParseExact(id, "D", out _)
            ? Reply(await grains.GetGrain<ITournamentGrain>(id.ToLowerInvariant()).GetAsync(), id)
            : ProblemFor(TournamentError.NotFound, id);

    /// <summary>
    /// The portal the caller plays from is the one named by <c>?portal=</c> (the engine knows it from its
    /// session), else the server-resolved portal of the player's latest session, so a join exactly as
    /// PROTOCOL §4 writes it works for a player who has played there. The portal only decides who may join:
    /// a run counts for a portal-scoped tournament only when its session's portal matches, so a false
    /// claim gains nothing. The player's hub connections on this node hear the tournament's standings
    /// before the reply (those on other nodes a moment later, through the grain's broadcast).
    /// </summary>
    private static async Task<Results<Ok<Tournament>, ProblemHttpResult>> Join(
        string id, string? portal, ClaimsPrincipal user, IGrainFactory grains, PlayerPortals playerPortals, StandingsRelay standings)
    {
        if (!Guid.TryParseExact(id, "D", out _))
        {
            return ProblemFor(TournamentError.NotFound, id);
        }

        portal = QueryFilter.Optional(portal);
        if (portal is not null && !LeaderboardApi.IsPortal(portal))
        {
            return ApiProblem.Invalid("portal", "must be 1 to 32 characters of a-z 0-9 _ -");
        }

        var playerId = user.PlayerId();
        portal ??= await playerPortals.LatestAsync(playerId);
        var result = await grains.GetGrain<ITournamentGrain>(id.ToLowerInvariant()).JoinAsync(playerId, portal);
        if (result.Tournament is { } tournament)
        {
            await standings.JoinedAsync(tournament.Id, playerId);
        }

        return Reply(result, id);
    }

    private static async Task<Results<Ok<StandingsResponse>, ProblemHttpResult>> Standings(
        string id, string? limit, string? around, ClaimsPrincipal user, IGrainFactory grains)
    {
        var (query, problem) = LeaderboardApi.PageQuery(limit, around, user);
        if (query is null)
        {
            return problem!;
        }

        if (!Guid.TryParseExact(id, "D", out _)
            || await grains.GetGrain<ITournamentGrain>(id.ToLowerInvariant()).GetStandingsAsync(query) is not { } standings)
        {
            return ProblemFor(TournamentError.NotFound, id);
        }

        var tournament = standings.Tournament;
        return TypedResults.Ok(new StandingsResponse(
            $"tournament:{tournament.Id}", standings.Page.Entries, standings.Page.Me, tournament.Status, tournament.EndsAt));
    }

    private static async Task<ProblemHttpResult?> ProblemWith(TournamentDefinition definition, ModeCatalogCache modes, TimeProvider clock)
    {
        if (definition.Title.Length is 0 or > MaxTitleLength || !VisibleText.Shows(definition.Title))
        {
            return ApiProblem.Invalid("title", $"must be 1 to {MaxTitleLength} characters of which some are visible, {VisibleText.Rules}");
        }

        if (!LeaderboardApi.IsGameId(definition.GameId))
        {
            return ApiProblem.Invalid("gameId", "must be 1 to 64 characters of A-Z a-z 0-9 _ -");
        }

        if ((await modes.GetAsync()).Catalog.Find(definition.Mode) is null)
        {
            return ApiProblem.Invalid("mode", $"{definition.Mode} is not in the mode catalog");
        }

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (definition.StartsAt <= 0 || definition.StartsAt > now + (long)MaxLeadTime.TotalMilliseconds)
        {
            return ApiProblem.Invalid("startsAt", $"must be an epoch-millisecond time at most {MaxLeadTime.TotalDays} days from now");
        }

        if (definition.EndsAt <= definition.StartsAt)
        {
            return ApiProblem.Invalid("endsAt", "must be after startsAt");
        }

        if (definition.EndsAt - definition.StartsAt > (long)MaxWindow.TotalMilliseconds)
        {
            return ApiProblem.Invalid("endsAt", $"the window may be at most {MaxWindow.TotalDays} days");
        }

        if (definition.EndsAt <= now)
        {
            return ApiProblem.Invalid("endsAt", "must be in the future");
        }

        if (definition.MaxAttempts is < 1 or > MaxAttemptsLimit)
        {
            return ApiProblem.Invalid("maxAttempts", $"must be an integer from 1 to {MaxAttemptsLimit}");
        }

        if (definition.Portal is not null && !LeaderboardApi.IsPortal(definition.Portal))
        {
            return ApiProblem.Invalid("portal", "must be 1 to 32 characters of a-z 0-9 _ -");
        }

        return definition.Prize is { } prize && (prize.Length > MaxPrizeLength || (prize.Length > 0 && !VisibleText.Shows(prize)))
            ? ApiProblem.Invalid("prize", $"must be at most {MaxPrizeLength} characters of which some are visible, {VisibleText.Rules}")
            : null;
    }

    /// <summary>
    /// A portal newly named for a tournament must be in the registry: sessions resolve only to registered portals, so
    /// a tournament scoped to a misspelt one ("crazygame") would count no run, and its organiser would not know.
    /// One already stored stays valid if the registry drops it later; one added to the registry a moment ago is found.
    /// </summary>
    private static async Task<ProblemHttpResult?> UnregisteredPortal(string? portal, PortalRegistry portals)
    {
        if (portal is null)
        {
            return null;
        }

        // Read now, not from the registry a node refreshes every 30 s: an organiser's scoping follows a portal
        // added or removed a moment ago, and tournament edits are rare enough to afford the read.
        var registered = (await portals.ReadNowAsync()).Portals;
        return registered.Any(p => p.Id == portal)
            ? null
            : ApiProblem.Invalid("portal", $"{portal} is not in the portal registry ({string.Join(", ", registered.Select(p => p.Id))})");
    }

    private static Results<Ok<Tournament>, ProblemHttpResult> Reply(TournamentResult result, string id) =>
        result.Tournament is { } tournament ? TypedResults.Ok(tournament) : ProblemFor(result.Error, id);

    private static ProblemHttpResult ProblemFor(TournamentError error, string id) => error switch
    {
        TournamentError.NotFound => ApiProblem.NotFound($"tournament {id} does not exist"),
        TournamentError.AlreadyStarted => ApiProblem.Conflict(StartedCode, $"tournament {id} has started or was cancelled: it can no longer be edited"),
        TournamentError.AlreadyEnded => ApiProblem.Conflict(EndedCode, $"tournament {id} has already ended"),
        TournamentError.Closed => ApiProblem.Conflict(ClosedCode, $"tournament {id} has ended or was cancelled"),
        TournamentError.WrongPortal => ApiProblem.Create(StatusCodes.Status403Forbidden, WrongPortalCode, $"tournament {id} is open to another portal's players only"),
        _ => ApiProblem.Conflict("CONFLICT", $"tournament {id}: {error}"),
    };

    [GeneratedRegex("^[\\x21-\\x7E]{1,128}$")]
    private static partial Regex IdempotencyKeyPattern();
}
