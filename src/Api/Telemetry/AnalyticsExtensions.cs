namespace PlayMusic.Api.Telemetry;

public static class AnalyticsExtensions
{
    /// <summary>The telemetry ingest (portal registry, perf tokens, group-commit writer).</summary>
    public static IHostApplicationBuilder AddPlayMusicAnalytics(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PerfTokens>();
        builder.Services.AddSingleton<PortalRegistry>();
        builder.Services.AddSingleton<TelemetryWriter>().AddHostedService(sp => sp.GetRequiredService<TelemetryWriter>());
        return builder;
    }
}
