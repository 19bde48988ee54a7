using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using PlayMusic.Grains.Competitions;

namespace PlayMusic.Hosting;

public static class CompetitionsExtensions
{
    /// <summary>Leaderboards and tournaments: the listing queries and the start-up sweep that arms tournament timers. Call after the Orleans silo or client is added.</summary>
    public static IHostApplicationBuilder AddPlayMusicCompetitions(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<TournamentDirectory>();
        builder.Services.AddSingleton<LeaderboardSubmitter>();
        var compactionInterval = PlayMusicSettings.Seconds(builder.Configuration, "PLAYMUSIC_LEADERBOARD_COMPACT_SECONDS", 30);
        builder.Services.Configure<LeaderboardOptions>(o => o.CompactionInterval = compactionInterval);
        builder.Services.AddSingleton(sp => new LeaderboardMetrics(sp.GetRequiredService<IMeterFactory>().Create(TelemetryExtensions.PlayMusicMeter)));
        builder.Services.AddHostedService<TournamentScheduleSweep>();
        return builder;
    }
}
