using System.Security.Claims;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Competitions;

namespace PlayMusic.Api.Apis;

/// <summary>PROTOCOL §4 leaderboard shape; <c>me</c> only when the caller has an entry.</summary>
public sealed record LeaderboardResponse(
    string Scope,
    IReadOnlyList<LeaderboardEntry> Entries,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PlayerStanding? Me);

public static partial class LeaderboardApi
{
    public const int DefaultLimit = 10;
    public const string GlobalScope = "global";
    public const string PortalScopePrefix = "portal:";

    public static IEndpointRouteBuilder MapLeaderboardApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/games/{gameId}/leaderboard", GetLeaderboard).RequireAuthorization();
        return endpoints;
    }

    private static async Task<Results<Ok<LeaderboardResponse>, ProblemHttpResult>> GetLeaderboard(
        string gameId, string? scope, string? limit, string? around, ClaimsPrincipal user, IGrainFactory grains)
    {
        if (!IsGameId(gameId))
        {
            return ApiProblem.Invalid("gameId", "must be 1 to 64 characters of A-Z a-z 0-9 _ -");
        }

        scope = QueryFilter.Optional(scope) ?? GlobalScope;
        string board;
        if (scope == GlobalScope)
        {
            board = BoardKeys.Global(gameId);
        }
        else if (scope.StartsWith(PortalScopePrefix, StringComparison.Ordinal) && IsPortal(scope[PortalScopePrefix.Length..]))
        {
            board = BoardKeys.Portal(gameId, scope[PortalScopePrefix.Length..]);
        }
        else
        {
            return ApiProblem.Invalid("scope", "must be global or portal:{portal} with a portal of 1 to 32 characters of a-z 0-9 _ -");
        }

        var (query, problem) = PageQuery(limit, around, user);
        if (query is null)
        {
            return problem!;
        }

        var page = await grains.GetGrain<ILeaderboardGrain>(board).GetPageAsync(query);
        return TypedResults.Ok(new LeaderboardResponse(scope, page.Entries, page.Me));
    }

    /// <summary>Parses <c>limit=1..100</c> (default 10) and <c>around=me</c> into a query, or the 400 naming the bad one.</summary>
    public static (LeaderboardQuery? Query, ProblemHttpResult? Problem) PageQuery(string? limit, string? around, ClaimsPrincipal user)
    {
        // PROTOCOL §4 spells the query `?limit=&around=me`: an empty one is an absent one.
        (limit, around) = (QueryFilter.Optional(limit), QueryFilter.Optional(around));
        var size = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, out size) || size is < 1 or > LeaderboardQuery.MaxLimit))
        {
            return (null, ApiProblem.Invalid("limit", $"must be an integer from 1 to {LeaderboardQuery.MaxLimit}"));
        }

        return around is null or "me"
            ? (new LeaderboardQuery(size, user.PlayerId(), around is not null), null)
            : (null, ApiProblem.Invalid("around", "must be me"));
    }

    public static bool IsGameId(string? value) => value is not null && GameIdPattern().IsMatch(value);

    public static bool IsPortal(string? value) => value is not null && PortalPattern().IsMatch(value);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}\\z")]
    private static partial Regex GameIdPattern();

    [GeneratedRegex("^[a-z0-9_-]{1,32}\\z")]
    private static partial Regex PortalPattern();
}
