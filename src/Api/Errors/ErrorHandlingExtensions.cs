using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;
using PlayMusic.Hosting;

namespace PlayMusic.Api.Errors;

public static class ErrorHandlingExtensions
{
    /// <summary>Every error, including malformed JSON, unknown routes and crashes, as problem+json with a code.</summary>
    public static IHostApplicationBuilder AddPlayMusicErrors(this IHostApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            problem.Detail ??= $"{context.HttpContext.Request.Method} {context.HttpContext.Request.Path}: {problem.Title}";
            problem.Extensions.TryAdd(ApiProblem.CodeKey, ApiProblem.DefaultCode(problem.Status ?? 500));
        });
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        // Binding failures throw, so the handler below can say which field was wrong.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // A number must be a JSON number: the web defaults would read "score": "100" as 100.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict);
        return builder;
    }

    public static WebApplication UsePlayMusicErrors(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    private sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
        {
            var (status, code, detail) = exception switch
            {
                BadHttpRequestException { InnerException: JsonException json } =>
                    (400, ErrorCodes.InvalidJson, ApiProblem.InvalidJsonDetail(json)),
                BadHttpRequestException bad => (bad.StatusCode, ApiProblem.DefaultCode(bad.StatusCode), bad.Message),
                _ when TransientFailure.Describe(exception) is { } transient => (503, ApiProblem.DefaultCode(503), transient),
                _ => (500, ErrorCodes.Internal, "unexpected server error"),
            };
            if (status == 500)
            {
                logger.LogError(exception, "Unhandled exception on {Method} {Path}", context.Request.Method, context.Request.Path);
            }

            context.Response.StatusCode = status;
            if (status == 503)
            {
                RetryAdvice.AskToRetry(context.Response);
            }

            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                Exception = exception,
                ProblemDetails = { Status = status, Detail = detail, Extensions = { [ApiProblem.CodeKey] = code } },
            });
        }
    }
}

/// <summary>A dependency (e.g. storage) could not do its part: 503, the client may retry; not a server bug.</summary>
public class UnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>Failures a client should retry rather than report: HTTP answers them 503, the hub <c>UNAVAILABLE</c>.</summary>
public static class TransientFailure
{
    /// <summary>What to tell the client, or null when the failure is not transient (a server bug).</summary>
    public static string? Describe(Exception exception) => exception switch
    {
        UnavailableException unavailable => unavailable.Message,
        // A grain call that ran out of time (e.g. counters recounting a large day on their first read) goes on without the caller.
        TimeoutException => "the backend is still working on this: retry in a few seconds",
        _ when IsDatabaseOutage(exception) => "the database could not be reached: retry in a few seconds",
        // The silo holding the grain is gone or going (a crash, a rolling restart): the cluster moves it on.
        OrleansMessageRejectionException or SiloUnavailableException => "a backend server is restarting: retry in a few seconds",
        // A newer version was stored meanwhile (for a moment two activations, during a failover): the grain
        // deactivates, and the call sent again runs on what storage holds.
        Orleans.Storage.InconsistentStateException => "the data changed meanwhile: retry in a few seconds",
        _ => null,
    };

    /// <summary>
    /// A transient Npgsql failure anywhere in the chain (grain storage wraps it): the database is down or
    /// unreachable, which is not a server bug; the write it was for failed as a whole.
    /// </summary>
    private static bool IsDatabaseOutage(Exception exception) => exception switch
    {
        NpgsqlException { IsTransient: true } => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsDatabaseOutage),
        { InnerException: { } inner } => IsDatabaseOutage(inner),
        _ => false,
    };
}
