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

    /// <summary>Creates or replaces one mode (the only way a deployment gets a mode its configuration did not ship with).</summary>
    private static async Task<Results<Ok<GameMode>, ProblemHttpResult>> PutMode(string id, PutModeRequest? request, ModeCatalogCache cache)
    {
        if (!ModeId().IsMatch(id))
        {
            return ApiProblem.Invalid("id", "must be 1 to 32 characters of a-z 0-9 _ -");
        }

        if (request is null)
        {
            return ApiProblem.MissingBody();
        }

        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 64 || request.Name.Any(char.IsControl))
        {
            return ApiProblem.Invalid("name", "must be 1 to 64 printable characters");
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

        var mode = new GameMode(id, request.Name.Trim(), request.MaxScorePerSecond.Value, new MultiplayerRules(enabled, min, max, coop));
        await cache.PutAsync(mode);
        return TypedResults.Ok(mode);
    }

    [GeneratedRegex("^[a-z0-9_-]{1,32}\\z")]
    private static partial Regex ModeId();
}
