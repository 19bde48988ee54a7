using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace PlayMusic.Hosting;

public static class TelemetryExtensions
{
    /// <summary>The meter and activity source of the project's own instruments.</summary>
    public const string PlayMusicMeter = "PlayMusic";

    /// <summary>Health checks with this tag decide <c>/readyz</c>.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// OpenTelemetry metrics (Prometheus scrape at <c>/metrics</c>); traces and OTLP export switch
    /// on when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set. The database health check for <c>/readyz</c>
    /// (the silo or cluster-client check comes with the Orleans role).
    /// </summary>
    public static IHostApplicationBuilder AddPlayMusicTelemetry(this IHostApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Environment.ApplicationName))
            .WithMetrics(metrics => metrics
                .AddMeter(PlayMusicMeter, "Microsoft.Orleans")
                .AddAspNetCoreInstrumentation()
                .AddMeter("Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections", "Microsoft.AspNetCore.SignalR")
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation()
                .AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            // Traces only when something receives them: recording an activity for every request,
            // grain call and SQL command costs CPU on every hot path (measured on the telemetry ingest).
            otel.WithTracing(tracing => tracing
                    .AddSource(PlayMusicMeter, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddNpgsql())
                .UseOtlpExporter();
        }

        builder.Services.AddKeyedSingleton(DatabaseHealthCheck.PoolKey, (services, _) =>
            DatabaseExtensions.CreateDataSource(services.GetRequiredService<PlayMusicSettings>(), DatabaseHealthCheck.PoolKey, poolCap: 2));
        // Not-ready answers are written as every other error is (the API adds its own customization to this).
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [ReadyTag]);
        return builder;
    }

    /// <summary><c>/healthz</c> (process up), <c>/readyz</c> (database and silo) and <c>/metrics</c>.</summary>
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder endpoints)
    {
        // Probes and scrapers read: GET or HEAD, anything else is 405.
        var read = new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head]);
        endpoints.MapHealthChecks("/healthz", new() { Predicate = _ => false, ResponseWriter = WriteHealth }).WithMetadata(read);
        endpoints.MapHealthChecks("/readyz", new() { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteHealth }).WithMetadata(read);
        endpoints.MapPrometheusScrapingEndpoint("/metrics").WithMetadata(read);
        return endpoints;
    }

    private static Task WriteHealth(HttpContext context, HealthReport report)
    {
        var checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description });
        if (context.Response.StatusCode < StatusCodes.Status400BadRequest)
        {
            return context.Response.WriteAsJsonAsync(new { status = report.Status.ToString(), checks });
        }

        // Not ready is an error answer like every other (PROTOCOL conventions): problem+json with a code, a traceId
        // and Retry-After, written by the same problem details service.
        RetryAdvice.AskToRetry(context.Response);
        var failing = report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy).Select(e => e.Key);
        return context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = context.Response.StatusCode,
                Detail = $"not ready: {string.Join(", ", failing)} unavailable",
                Extensions = { ["code"] = "UNAVAILABLE", ["checks"] = checks },
            },
        }).AsTask();
    }
}
