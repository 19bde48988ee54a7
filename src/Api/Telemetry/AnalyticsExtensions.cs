using Npgsql;
using PlayMusic.Hosting;

namespace PlayMusic.Api.Telemetry;

public static class AnalyticsExtensions
{
    /// <summary>The telemetry ingest (portal registry, perf tokens, group-commit writer), what it tells of players, and the sweep of unrecorded runs.</summary>
    public static IHostApplicationBuilder AddPlayMusicAnalytics(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PerfTokens>();
        builder.Services.AddSingleton<PortalRegistry>();
        builder.Services.AddSingleton<PlayerPortals>();
        builder.Services.AddKeyedSingleton(TelemetryWriter.DataSourceKey, (services, _) => WriterDataSource(services.GetRequiredService<PlayMusicSettings>()));
        builder.Services.AddSingleton<TelemetryWriter>().AddHostedService(sp => sp.GetRequiredService<TelemetryWriter>());
        builder.Services.AddSingleton<UnrecordedRunsSweep>().AddHostedService(sp => sp.GetRequiredService<UnrecordedRunsSweep>());
        return builder;
    }

    /// <summary>
    /// The writer holds one connection for its batch in flight and one for counting; the rest serve the lookups of
    /// refused perf tokens.
    /// </summary>
    private const int WriterPoolSize = 10;

    /// <summary>
    /// The writer's statements are inserts and key lookups whose best plan never depends on the
    /// batch, yet PostgreSQL planned them afresh at every execution (~25 % of its CPU per event).
    /// On these connections a prepared statement keeps its first, generic plan; with sequential
    /// scans disabled that plan is an index plan even when it is made on a freshly created,
    /// never-analysed table (which otherwise gets seq scans that stay for the connection's life).
    /// </summary>
    private static NpgsqlDataSource WriterDataSource(PlayMusicSettings settings) =>
        DatabaseExtensions.CreateDataSource(settings, "playmusic-telemetry-writer", WriterPoolSize, "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off");
}
