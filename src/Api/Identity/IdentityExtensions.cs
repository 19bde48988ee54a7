using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace PlayMusic.Api.Identity;

public static class IdentityExtensions
{
    public const string AdminPolicy = "admin";

    public static IHostApplicationBuilder AddPlayMusicIdentity(this IHostApplicationBuilder builder)
    {
        var key = SigningKey.Load(builder.Configuration);
        builder.Services.AddSingleton(key);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<TokenIssuer>();
        // The clock the token handler checks `exp` with, so a cached token lapses when a fresh validation would fail.
        var validated = new ValidatedTokens(TimeProvider.System);
        builder.Services.AddSingleton(validated);
        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;
                o.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = TokenIssuer.Issuer,
                    ValidAudience = TokenIssuer.Audience,
                    IssuerSigningKey = key,
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    NameClaimType = TokenIssuer.NameClaim,
                    RoleClaimType = TokenIssuer.RoleClaim,
                    // An expired token is refused at its `exp` (PROTOCOL §1); the issuer backdates `nbf` instead, so a
                    // node whose clock runs behind the issuer's still takes a fresh token.
                    ClockSkew = TimeSpan.Zero,
                };
                o.Events = new JwtBearerEvents
                {
                    // Browsers cannot set headers on WebSockets: the hub also takes ?access_token=.
                    OnMessageReceived = context =>
                    {
                        if (context.HttpContext.Request.Path.StartsWithSegments("/hubs")
                            && context.Request.Query["access_token"] is [{ Length: > 0 } token])
                        {
                            context.Token = token;
                        }

                        if ((context.Token ?? BearerToken(context.Request)) is { } presented && validated.Find(presented) is { } principal)
                        {
                            context.Principal = principal;
                            context.Success();
                        }

                        return Task.CompletedTask;
                    },
                    // Every endpoint acts for the token's subject: a signed token without one is not a caller.
                    OnTokenValidated = context =>
                    {
                        if (string.IsNullOrEmpty(context.Principal?.FindFirstValue(JwtRegisteredClaimNames.Sub)))
                        {
                            context.Fail("the token has no subject");
                        }
                        else if (context.SecurityToken is JsonWebToken token)
                        {
                            validated.Add(token.EncodedToken, context.Principal!, token.ValidTo);
                        }

                        return Task.CompletedTask;
                    },
                };
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireAuthenticatedUser().RequireRole(TokenIssuer.AdminRole));
        return builder;
    }

    /// <summary>The token of an <c>Authorization: Bearer</c> header, read as the JWT bearer handler reads it.</summary>
    private static string? BearerToken(HttpRequest request)
    {
        string? authorization = request.Headers.Authorization;
        return authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization["Bearer ".Length..].Trim() is { Length: > 0 } token ? token : null
            : null;
    }

    /// <summary>The authenticated player's id (the token's <c>sub</c>).</summary>
    public static string PlayerId(this ClaimsPrincipal user) =>
        user.FindFirstValue(JwtRegisteredClaimNames.Sub) ?? throw new InvalidOperationException("token has no subject");

    public static string DisplayName(this ClaimsPrincipal user) => user.FindFirstValue(TokenIssuer.NameClaim) ?? "Player";
}
