using Microsoft.Net.Http.Headers;

namespace PlayMusic.Api;

public static class CorsExtensions
{
    /// <summary>
    /// Browser access from other origins (the engine served from a CDN or a portal's own domain):
    /// <c>PLAYMUSIC_CORS_ORIGINS</c> lists them (<c>;</c> or <c>,</c> separated, <c>https://*.example.com</c> for its
    /// subdomains, <c>*</c> for any); unset,
    /// only same-origin pages may call. Credentials are allowed because the official SignalR client
    /// negotiates with <c>withCredentials</c>; no cookie authenticates here (tokens are bearer headers),
    /// so allowing them gives another origin nothing it could not do with the token itself.
    /// </summary>
    public static IHostApplicationBuilder AddPlayMusicCors(this IHostApplicationBuilder builder)
    {
        var origins = (builder.Configuration["PLAYMUSIC_CORS_ORIGINS"] ?? "")
            .Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        builder.Services.AddCors(o => o.AddDefaultPolicy(policy =>
        {
            if (origins is ["*"])
            {
                policy.SetIsOriginAllowed(_ => true);
            }
            else
            {
                // "https://*.discordsays.com": a Discord Activity is served from its application's own subdomain.
                policy.WithOrigins(origins).SetIsOriginAllowedToAllowWildcardSubdomains();
            }

            policy.AllowAnyHeader().AllowAnyMethod().AllowCredentials()
                .WithExposedHeaders("Location", "ETag", "Retry-After")
                .SetPreflightMaxAge(TimeSpan.FromHours(1));
        }));
        return builder;
    }

    /// <summary>
    /// CORS, and <c>Vary: Origin</c> on every answer when origins are configured: the answer to a listed
    /// origin carries headers the answer to another does not, and a shared cache must not mix them
    /// (ASP.NET Core adds it only when several origins are listed).
    /// </summary>
    public static WebApplication UsePlayMusicCors(this WebApplication app)
    {
        if (!string.IsNullOrWhiteSpace(app.Configuration["PLAYMUSIC_CORS_ORIGINS"]))
        {
            app.Use((context, next) =>
            {
                context.Response.OnStarting(() =>
                {
                    if (!context.Response.Headers.Vary.Any(v => v?.Contains(HeaderNames.Origin, StringComparison.OrdinalIgnoreCase) == true))
                    {
                        context.Response.Headers.Append(HeaderNames.Vary, HeaderNames.Origin);
                    }

                    return Task.CompletedTask;
                });
                return next(context);
            });
        }

        app.UseCors();
        return app;
    }
}
