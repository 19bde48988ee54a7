using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using PlayMusic.Api.Errors;
using PlayMusic.Api.Identity;

namespace PlayMusic.Api.Apis;

public sealed record GuestRequest(string? DisplayName);

public sealed record GuestResponse(Guid PlayerId, string DisplayName, string Token, long ExpiresAt);

public static class AuthApi
{
    public const int MaxDisplayNameLength = 32;

    /// <summary>Code units for 32 visible characters: room for emoji sequences, a bound for token and storage.</summary>
    private const int MaxDisplayNameUtf16 = 128;
    private const int MaxGuestBodyBytes = 4 * 1024;

    private static readonly TimeSpan GuestLifetime = TimeSpan.FromDays(30);

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder endpoints)
    {
        var auth = endpoints.MapGroup("/api/auth");
        // Anonymous: a guest body is a name, so a few KiB bound what a stranger can make the server read.
        auth.MapPost("/guest", IssueGuest).WithMetadata(new RequestSizeLimitAttribute(MaxGuestBodyBytes));
        return endpoints;
    }

    /// <summary>
    /// 1 to 32 characters as a player sees them (an emoji or an accented letter is one, whatever its
    /// code units), bounded in code units too, and <see cref="VisibleText.Shows"/>.
    /// </summary>
    private static bool IsDisplayable(string name) =>
        name.Length is > 0 and <= MaxDisplayNameUtf16
        && new StringInfo(name).LengthInTextElements <= MaxDisplayNameLength
        && VisibleText.Shows(name);

    /// <summary>A new guest identity: stateless, so a burst of new players costs no database write.</summary>
    private static Results<Ok<GuestResponse>, ProblemHttpResult> IssueGuest(GuestRequest? request, TokenIssuer issuer)
    {
        var playerId = Guid.NewGuid();
        var displayName = request?.DisplayName?.Trim();
        if (displayName is null)
        {
            displayName = $"Guest-{playerId.ToString("N")[..4]}";
        }
        else if (!IsDisplayable(displayName))
        {
            return ApiProblem.Invalid("displayName", $"must be 1 to {MaxDisplayNameLength} characters of which some are visible, {VisibleText.Rules}");
        }

        var token = issuer.Issue(playerId.ToString(), displayName, TokenIssuer.PlayerRole, GuestLifetime);
        return TypedResults.Ok(new GuestResponse(playerId, displayName, token.Token, token.ExpiresAt.ToUnixTimeMilliseconds()));
    }
}
