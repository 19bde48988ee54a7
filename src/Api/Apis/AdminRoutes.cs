using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using PlayMusic.Api.Identity;

namespace PlayMusic.Api.Apis;

public static class AdminRoutes
{
    /// <summary>
    /// Admin bodies are small JSON objects (a mode, a tournament): Kestrel stops reading beyond this (413
    /// PAYLOAD_TOO_LARGE) instead of buffering up to its 30 MB default.
    /// </summary>
    public const int MaxBodyBytes = 64 * 1024;

    private const string AdminPrefix = "/api/admin";

    /// <summary>
    /// PROTOCOL §1 guards all of <c>/api/admin/**</c>: 401 without a token and 403 for a player's, also on paths or
    /// methods no endpoint serves, which would otherwise answer 404/405 to anyone and so list what exists. Runs
    /// after authentication, for requests no admin endpoint takes; CORS preflights pass (the CORS middleware answers them).
    /// </summary>
    public static WebApplication UseAdminGate(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            // Endpoints of the admin groups carry the policy, which UseAuthorization applies: judged once, there.
            if (context.Request.Path.StartsWithSegments(AdminPrefix) && !IsPreflight(context.Request)
                && context.GetEndpoint()?.Metadata.GetMetadata<IAuthorizeData>() is null)
            {
                var authorization = context.RequestServices.GetRequiredService<IAuthorizationService>();
                if (!(await authorization.AuthorizeAsync(context.User, IdentityExtensions.AdminPolicy)).Succeeded)
                {
                    await (context.User.Identity?.IsAuthenticated == true ? context.ForbidAsync() : context.ChallengeAsync());
                    return;
                }
            }

            await next(context);
        });
        return app;
    }

    /// <summary>A CORS preflight carries no token by design; any other OPTIONS is gated like the other methods.</summary>
    private static bool IsPreflight(HttpRequest request) =>
        HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey(HeaderNames.AccessControlRequestMethod);

    /// <summary>A group of admin-only endpoints (401 without a token, 403 for a player's), with bounded bodies.</summary>
    public static RouteGroupBuilder MapAdminGroup(this IEndpointRouteBuilder endpoints, string prefix) =>
        endpoints.MapGroup(prefix).RequireAuthorization(IdentityExtensions.AdminPolicy).WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));
}
