using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Api.Modes;
using PlayMusic.Api.Telemetry;
using PlayMusic.Competitions;
using PlayMusic.Hosting;

namespace PlayMusic.Api.Apis;

public sealed record StartSessionRequest(
    string? GameId, string? Mode, string? LoadId, string? Portal, string? Referrer, string? Country, string? DeviceTier, string? EngineVersion);

public sealed record StartSessionResponse(Guid SessionId, string PerfToken, string Portal);

public sealed record PerfRequest(Dictionary<string, double?>? Steps, double? GatewayMs);

public sealed record EndRequest(long? Score, double? DurationMs, bool? Completed);

/// <summary>
/// What <c>navigator.sendBeacon</c> posts. <c>country</c> and <c>deviceTier</c> are optional
/// additions to PROTOCOL §3 so drop-outs can be filtered like sessions.
/// </summary>
public sealed record DropoutBeacon(
    string? LoadId, string? GameId, string? Portal, string? Referrer, string? Stage, double? ElapsedMs, string? Country, string? DeviceTier);

/// <summary>PROTOCOL §3: sessions, load-time steps and drop-out beacons from the engine iframe.</summary>
public static class TelemetryApi
{
    public const string PerfTokenHeader = "X-Perf-Token";
    public const string ScoreNotRecorded = "SCORE_NOT_RECORDED";

    /// <summary>
    /// Every body of the engine is a few hundred bytes (a referrer of 2,048 characters at most): beacons and perf
    /// reports come from anyone, so Kestrel stops reading there (413) instead of buffering up to its 30 MB default.
    /// </summary>
    private const int MaxBodyBytes = 8 * 1024;

    public static IEndpointRouteBuilder MapTelemetryApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api").WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxBodyBytes));
        api.MapPost("/sessions", StartSession).RequireAuthorization();
        api.MapPost("/sessions/{sessionId}/perf", ReportPerf);
        api.MapPost("/sessions/{sessionId}/end", EndSession);
        api.MapPost("/beacon/dropout", Dropout);
        return endpoints;
    }

    /// <summary>
    /// The body is read in the handler, not bound: a bound body makes routing answer a wrong media type 415 before
    /// authorization runs, and PROTOCOL §1 answers a missing token 401 whatever was sent.
    /// </summary>
    private static async Task<Results<Created<StartSessionResponse>, ProblemHttpResult>> StartSession(
        HttpContext context, ModeCatalogCache modes, PortalRegistry portals,
        PerfTokens tokens, TelemetryWriter writer, TimeProvider time, IOptions<JsonOptions> jsonOptions)
    {
        var (request, badBody) = await EngineBody.ReadAsync<StartSessionRequest>(context, jsonOptions.Value.SerializerOptions);
        if (badBody is not null)
        {
            return badBody;
        }

        if (request is null)
        {
            return ApiProblem.MissingBody();
        }

        if (TelemetryInput.GameId(request.GameId) is { } badGame)
        {
            return badGame;
        }

        if (request.Mode is null || (await modes.GetAsync()).Catalog.Find(request.Mode) is null)
        {
            return ApiProblem.Invalid("mode", "must be a mode of the catalog (GET /api/config/modes)");
        }

        var badCountry = TelemetryInput.Country(request.Country, out var country);
        if ((TelemetryInput.Uuid("loadId", request.LoadId, out var loadId)
            ?? TelemetryInput.Referrer(request.Referrer)
            ?? badCountry
            ?? TelemetryInput.DeviceTier(request.DeviceTier)) is { } bad)
        {
            return bad;
        }

        if (request.EngineVersion is not null && !TelemetryInput.EngineVersionPattern().IsMatch(request.EngineVersion))
        {
            return ApiProblem.Invalid("engineVersion", "must be 1 to 32 printable ASCII characters without spaces");
        }

        var referrerHost = PortalDirectory.HostOf(request.Referrer);
        var portal = (await portals.GetAsync()).Resolve(request.Portal, referrerHost);
        var sessionId = Guid.CreateVersion7();
        var user = context.User;
        await writer.StoreSessionAsync(new SessionRow(sessionId, loadId, user.PlayerId(), user.DisplayName(), request.GameId!, request.Mode,
            portal, referrerHost, country, request.DeviceTier, request.EngineVersion, time.GetUtcNow().UtcDateTime));
        return TypedResults.Created($"/api/sessions/{sessionId}", new StartSessionResponse(sessionId, tokens.For(sessionId), portal));
    }

    private static async Task<Results<Accepted, ProblemHttpResult>> ReportPerf(
        string sessionId, HttpContext context, PerfTokens tokens, TelemetryWriter writer, TimeProvider time, IOptions<JsonOptions> jsonOptions)
    {
        var (denied, id) = await AuthorizeAsync(sessionId, context, tokens, writer);
        if (denied is not null)
        {
            return denied;
        }

        var (request, badBody) = await EngineBody.ReadAsync<PerfRequest>(context, jsonOptions.Value.SerializerOptions);
        if (badBody is not null)
        {
            return badBody;
        }

        if (request?.Steps is not { } steps)
        {
            return ApiProblem.Invalid("steps", "must be an object { download, config, assets, audio } of milliseconds");
        }

        if (steps.Keys.FirstOrDefault(k => !TelemetryInput.Stages.Contains(k)) is { } unknown)
        {
            return ApiProblem.Invalid($"steps.{unknown}", "is not a load step (download, config, assets, audio)");
        }

        var ms = new long[TelemetryInput.Stages.Count];
        for (var i = 0; i < ms.Length; i++)
        {
            var stage = TelemetryInput.Stages[i];
            if (TelemetryInput.Milliseconds($"steps.{stage}", steps.GetValueOrDefault(stage), TelemetryInput.MaxStepMs, required: true, out ms[i]) is { } bad)
            {
                return bad;
            }
        }

        if (TelemetryInput.Milliseconds("gatewayMs", request.GatewayMs, TelemetryInput.MaxStepMs, required: false, out var gatewayMs) is { } badGateway)
        {
            return badGateway;
        }

        var outcome = await writer.StorePerfAsync(new PerfRow(id, (int)ms[0], (int)ms[1], (int)ms[2], (int)ms[3],
            request.GatewayMs is null ? null : (int)gatewayMs, time.GetUtcNow().UtcDateTime));
        return outcome switch
        {
            PerfOutcome.Stored => TypedResults.Accepted((string?)null),
            PerfOutcome.AlreadyReported => ApiProblem.Conflict("PERF_ALREADY_REPORTED", $"session {id} already has its perf report"),
            _ => ApiProblem.NotFound($"session {id} does not exist"),
        };
    }

    private static async Task<Results<Accepted, ProblemHttpResult>> EndSession(
        string sessionId, HttpContext context, PerfTokens tokens, TelemetryWriter writer,
        IGrainFactory grains, TimeProvider time, IOptions<JsonOptions> jsonOptions, ILogger<EndRequest> logger)
    {
        var (denied, id) = await AuthorizeAsync(sessionId, context, tokens, writer);
        if (denied is not null)
        {
            return denied;
        }

        var (request, badBody) = await EngineBody.ReadAsync<EndRequest>(context, jsonOptions.Value.SerializerOptions);
        if (badBody is not null)
        {
            return badBody;
        }

        if (request?.Score is not (>= 0 and var score))
        {
            return ApiProblem.Invalid("score", "is required and must be an integer >= 0");
        }

        if (TelemetryInput.Milliseconds("durationMs", request.DurationMs, TelemetryInput.MaxDurationMs, required: true, out var durationMs) is { } bad)
        {
            return bad;
        }

        if (request.Completed is not { } completed)
        {
            return ApiProblem.Invalid("completed", "is required (true or false)");
        }

        var end = await writer.StoreEndAsync(new EndRow(id, score, durationMs, completed, time.GetUtcNow().UtcDateTime));
        if (end is null)
        {
            return ApiProblem.NotFound($"session {id} does not exist");
        }

        if (end.Completed)
        {
            // The end is durable already; if the score cannot be handed over now, a retried end
            // (idempotent) hands over the stored one again, and RunId keeps that from counting twice.
            try
            {
                await grains.GetGrain<IGameScoresGrain>(end.GameId).RecordAsync(end.ToRun());
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Session {SessionId} ended but its score was not recorded", id);
                RetryAdvice.AskToRetry(context.Response);
                return ApiProblem.Create(StatusCodes.Status503ServiceUnavailable, ScoreNotRecorded,
                    $"session {id} is ended, but its score has not reached the leaderboards yet: send the same end again");
            }
        }

        return TypedResults.Accepted((string?)null);
    }

    /// <summary>Accepts <c>text/plain</c> (what sendBeacon sends for a string) and JSON, without auth.</summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> Dropout(
        HttpContext context, PortalRegistry portals, TelemetryWriter writer, TimeProvider time, IOptions<JsonOptions> jsonOptions)
    {
        var (beacon, badBody) = await EngineBody.ReadAsync<DropoutBeacon>(context, jsonOptions.Value.SerializerOptions, textPlain: true);
        if (badBody is not null)
        {
            return badBody;
        }

        if (beacon is null)
        {
            return ApiProblem.MissingBody();
        }

        var badCountry = TelemetryInput.Country(beacon.Country, out var country);
        if ((TelemetryInput.Uuid("loadId", beacon.LoadId, out var loadId)
            ?? TelemetryInput.GameId(beacon.GameId)
            ?? TelemetryInput.Referrer(beacon.Referrer)
            ?? badCountry
            ?? TelemetryInput.DeviceTier(beacon.DeviceTier)) is { } bad)
        {
            return bad;
        }

        if (beacon.Stage is null || !TelemetryInput.Stages.Contains(beacon.Stage))
        {
            return ApiProblem.Invalid("stage", "must be one of download, config, assets, audio");
        }

        if (TelemetryInput.Milliseconds("elapsedMs", beacon.ElapsedMs, TelemetryInput.MaxElapsedMs, required: true, out var elapsedMs) is { } badElapsed)
        {
            return badElapsed;
        }

        var referrerHost = PortalDirectory.HostOf(beacon.Referrer);
        var portal = (await portals.GetAsync()).Resolve(beacon.Portal, referrerHost);
        await writer.StoreDropoutAsync(new DropoutRow(loadId, beacon.GameId!, portal, referrerHost, beacon.Stage, (int)elapsedMs,
            country, beacon.DeviceTier, time.GetUtcNow().UtcDateTime));
        return TypedResults.NoContent();
    }

    /// <summary>
    /// 400 for a malformed id, 404 for a session that was never stored, 403 unless the perf token is this
    /// session's. A token verifies without a lookup; only a refused one costs a lookup, which tells the two
    /// refusals apart (PROTOCOL §3).
    /// </summary>
    private static async Task<(ProblemHttpResult? Refusal, Guid Id)> AuthorizeAsync(
        string sessionId, HttpContext context, PerfTokens tokens, TelemetryWriter writer)
    {
        if (TelemetryInput.Uuid("sessionId", sessionId, out var id) is { } malformed)
        {
            return (malformed, id);
        }

        if (tokens.Verify(id, context.Request.Headers[PerfTokenHeader].ToString()))
        {
            return (null, id);
        }

        return (await writer.SessionExistsAsync(id)
            ? ApiProblem.Forbidden($"{PerfTokenHeader} is missing or is not the token of session {id}")
            : ApiProblem.NotFound($"session {id} does not exist"), id);
    }
}
