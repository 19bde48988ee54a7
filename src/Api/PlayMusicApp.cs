using PlayMusic.Api.Apis;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;
using PlayMusic.Api.Modes;
using PlayMusic.Api.Rooms;
using PlayMusic.Hosting;

namespace PlayMusic.Api;

/// <summary>Builds the API process: by default one process hosting the silo and the front door.</summary>
public static class PlayMusicApp
{
    public const string DefaultUrls = "http://127.0.0.1:5080";

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.WebHost.UseUrls((builder.Configuration["PLAYMUSIC_URLS"] ?? DefaultUrls).Split(';'));
        builder.AddPlayMusicDatabase();
        builder.AddPlayMusicSilo();
        builder.AddPlayMusicTelemetry();
        builder.AddPlayMusicErrors();
        builder.AddPlayMusicIdentity();
        builder.AddPlayMusicRooms();
        builder.Services.AddSingleton<ModeCatalogCache>().AddHostedService(sp => sp.GetRequiredService<ModeCatalogCache>());

        var app = builder.Build();
        app.UsePlayMusicErrors();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapOperationsApi();
        app.MapAuthApi();
        app.MapConfigApi();
        app.MapRoomsHub();
        return app;
    }
}
