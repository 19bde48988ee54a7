using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;

namespace PlayMusic.Api.Apis;

public sealed record GuestRequest(string? DisplayName);

public sealed record GuestResponse(Guid PlayerId, string DisplayName, string Token, long ExpiresAt);

public static class AuthApi
{
    public const int MaxDisplayNameLength = 32;

    private static readonly TimeSpan GuestLifetime = TimeSpan.FromDays(30);

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder endpoints)
    {
        var auth = endpoints.MapGroup("/api/auth");
        auth.MapPost("/guest", IssueGuest);
        return endpoints;
    }

    /// <summary>A new guest identity: stateless, so a burst of new players costs no database write.</summary>
    private static Results<Ok<GuestResponse>, ProblemHttpResult> IssueGuest(GuestRequest? request, TokenIssuer issuer)
    {
        var playerId = Guid.NewGuid();
        var displayName = request?.DisplayName?.Trim();
        if (displayName is null)
        {
            displayName = $"Guest-{playerId.ToString("N")[..4]}";
        }
        else if (displayName.Length is 0 or > MaxDisplayNameLength || displayName.Any(char.IsControl))
        {
            return ApiProblem.Invalid("displayName", $"must be 1 to {MaxDisplayNameLength} printable characters");
        }

        var token = issuer.Issue(playerId.ToString(), displayName, TokenIssuer.PlayerRole, GuestLifetime);
        return TypedResults.Ok(new GuestResponse(playerId, displayName, token.Token, token.ExpiresAt.ToUnixTimeMilliseconds()));
    }
}
