using PlayMusic.Api.Apis;
using PlayMusic.Api.Competitions;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Api.Modes;
using PlayMusic.Api.Rooms;
using PlayMusic.Api.Telemetry;
using PlayMusic.Hosting;

namespace PlayMusic.Api;

/// <summary>Builds the API process: by default one process hosting the silo and the front door.</summary>
public static class PlayMusicApp
{
    public const string DefaultUrls = "http://127.0.0.1:5080";

    /// <param name="services">Runs after the app's own registrations (a host replacing a service, e.g. in tests).</param>
    public static WebApplication Build(string[] args, Action<IServiceCollection>? services = null)
    {
        // appsettings.json ships beside the binaries; the working directory only anchors .data/.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls((builder.Configuration["PLAYMUSIC_URLS"] ?? DefaultUrls).Split(';'));
        builder.AddPlayMusicConnectionLimits();
        builder.AddPlayMusicDatabase();
        builder.AddPlayMusicOrleans();
        builder.AddPlayMusicCompetitions();
        builder.AddPlayMusicTelemetry();
        builder.AddPlayMusicErrors();
        builder.AddPlayMusicIdentity();
        builder.AddPlayMusicCors();
        builder.AddPlayMusicRooms();
        builder.AddPlayMusicStandings();
        builder.AddPlayMusicModeCatalog();
        builder.AddPlayMusicAnalytics();
        services?.Invoke(builder.Services);

        var app = builder.Build();
        app.UsePlayMusicErrors();
        app.UsePlayMusicCors();
        app.UseAuthentication();
        app.UseAdminGate();
        app.UseAuthorization();
        app.Use(JsonCharset.CheckAsync);
        app.MapOperationsApi();
        app.MapAuthApi();
        app.MapConfigApi();
        app.MapLeaderboardApi();
        app.MapTournamentsApi();
        app.MapTelemetryApi();
        app.MapPortalsApi();
        app.MapRoomsHub();
        return app;
    }
}
