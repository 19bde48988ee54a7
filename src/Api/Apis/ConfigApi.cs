using System.Text.RegularExpressions;
using Microsoft.Net.Http.Headers;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Api.Modes;
using PlayMusic.Modes;

namespace PlayMusic.Api.Apis;

public sealed record MultiplayerRulesRequest(bool? Enabled, int? MinPlayers, int? MaxPlayers, bool? Coop);

public sealed record PutModeRequest(string? Name, int? MaxScorePerSecond, MultiplayerRulesRequest? Multiplayer);

public static partial class ConfigApi
{
    public const int MaxPlayersPerRoom = 4;

    public static IEndpointRouteBuilder MapConfigApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapMethods("/api/config/modes", [HttpMethods.Get, HttpMethods.Head], GetModes);
        endpoints.MapAdminGroup("/api/admin/config")
            .MapPut("/modes/{id}", PutMode);
        return endpoints;
    }

    private static async Task<IResult> GetModes(HttpContext context, ModeCatalogCache cache)
    {
        var current = await cache.GetAsync();
        context.Response.Headers.ETag = current.ETag;
        context.Response.Headers.CacheControl = "public, max-age=2";
        // RFC 9110 §13.1.2: a list of tags, weak comparison, or "*".
        var tag = EntityTagHeaderValue.Parse(current.ETag);
        if (context.Request.GetTypedHeaders().IfNoneMatch.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(tag, useStrongComparison: false)))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        return TypedResults.Bytes(current.Json, "application/json");
    }

    /// <summary>
    /// Creates or replaces one mode (the only way a deployment gets a mode its configuration did not ship with). An
    /// <c>If-Match</c> with the catalog's <c>ETag</c> (from GET) makes the change only if nobody changed the catalog
    /// since: two operators editing at once then cannot silently undo each other (412 for the later one).
    /// </summary>
    private static async Task<Results<Ok<GameMode>, ProblemHttpResult>> PutMode(
        string id, PutModeRequest? request, HttpContext context, ModeCatalogCache cache)
    {
        if (!ModeId().IsMatch(id))
        {
            return ApiProblem.Invalid("id", "must be 1 to 32 characters of a-z 0-9 _ -");
        }

        if (request is null)
        {
            return ApiProblem.MissingBody();
        }

        if (request.Name?.Trim() is not { Length: <= 64 } name || !VisibleText.Shows(name))
        {
            return ApiProblem.Invalid("name", $"must be 1 to 64 characters of which some are visible, {VisibleText.Rules}");
        }

        if (request.MaxScorePerSecond is not (>= 1 and <= 1_000_000))
        {
            return ApiProblem.Invalid("maxScorePerSecond", "must be an integer from 1 to 1000000");
        }

        if (request.Multiplayer is not { Enabled: { } enabled, MinPlayers: { } min, MaxPlayers: { } max, Coop: { } coop })
        {
            return ApiProblem.Invalid("multiplayer", "must give enabled, minPlayers, maxPlayers and coop");
        }

        if (min is < 2 or > MaxPlayersPerRoom || max < min || max > MaxPlayersPerRoom)
        {
            var field = min is < 2 or > MaxPlayersPerRoom ? "multiplayer.minPlayers" : "multiplayer.maxPlayers";
            return ApiProblem.Invalid(field, $"minPlayers and maxPlayers must satisfy 2 <= minPlayers <= maxPlayers <= {MaxPlayersPerRoom}");
        }

        var mode = new GameMode(id, name, request.MaxScorePerSecond.Value, new MultiplayerRules(enabled, min, max, coop));
        var (error, current) = await cache.PutAsync(mode, IfMatch(context.Request));
        context.Response.Headers.ETag = current.ETag;
        return error switch
        {
            ModePutError.CatalogChanged => ApiProblem.Create(StatusCodes.Status412PreconditionFailed, "PRECONDITION_FAILED",
                $"If-Match: the mode catalog changed since it was read (its ETag is now {current.ETag}); read it again"),
            ModePutError.CatalogFull => ApiProblem.Conflict("CATALOG_FULL",
                $"the catalog holds at most {ModeCatalog.MaxModes} modes: change an existing mode instead of adding {id}"),
            _ => TypedResults.Ok(mode),
        };
    }

    /// <summary>
    /// The tags an <c>If-Match</c> accepts, or null without one or for <c>*</c> (the catalog always exists). RFC 9110
    /// §13.1.1 compares strongly, so a weak tag matches nothing, and neither does a header that is no list of tags
    /// (the change is not made unconditionally because a precondition was misspelt).
    /// </summary>
    private static List<string>? IfMatch(HttpRequest request)
    {
        if (request.Headers.IfMatch.Count == 0)
        {
            return null;
        }

        var tags = request.GetTypedHeaders().IfMatch;
        return tags.Any(t => t.Equals(EntityTagHeaderValue.Any)) ? null : tags.Where(t => !t.IsWeak).Select(t => t.Tag.ToString()).ToList();
    }

    [GeneratedRegex("^[a-z0-9_-]{1,32}\\z")]
    private static partial Regex ModeId();
}
