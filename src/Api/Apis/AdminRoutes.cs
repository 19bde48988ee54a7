using Microsoft.AspNetCore.Mvc;
using PlayMusic.Api.Identity;

namespace PlayMusic.Api.Apis;

public static class AdminRoutes
{
    /// <summary>
    /// Admin bodies are small JSON objects (a mode, a tournament): Kestrel stops reading beyond this (413
    /// PAYLOAD_TOO_LARGE) instead of buffering up to its 30 MB default.
    /// </summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>A group of admin-only endpoints (401 without a token, 403 for a player's), with bounded bodies.</summary>
    public static RouteGroupBuilder MapAdminGroup(this IEndpointRouteBuilder endpoints, string prefix) =>
        endpoints.MapGroup(prefix).RequireAuthorization(IdentityExtensions.AdminPolicy).WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));
}
