using System.Collections.Frozen;
using System.Globalization;
using System.Text;
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
    private const int ZeroWidthJoiner = 0x200D;
    private const int EmojiTagFirst = 0xE0020;
    private const int EmojiTagLast = 0xE007F;

    /// <summary>Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).</summary>
    private static readonly FrozenSet<int> BlankFillers = FrozenSet.ToFrozenSet([0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800]);

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
    /// code units), bounded in code units too, and nothing invisible: no control characters and no
    /// formatting ones (zero-width spaces, direction overrides) except the joiners emoji sequences use,
    /// and something that shows: joiners, spaces, marks (variation selectors, combining joiners) and blank
    /// fillers alone are an invisible name.
    /// </summary>
    private static bool IsDisplayable(string name)
    {
        if (name.Length is 0 or > MaxDisplayNameUtf16 || new StringInfo(name).LengthInTextElements > MaxDisplayNameLength)
        {
            return false;
        }

        var shows = false;
        foreach (var rune in name.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            var emojiJoiner = rune.Value == ZeroWidthJoiner || rune.Value is >= EmojiTagFirst and <= EmojiTagLast;
            // Line breaks split a leaderboard row; noncharacters are never text. Other unassigned code points
            // stay allowed: they are the emoji phones ship before this runtime's Unicode tables know them.
            if (category is UnicodeCategory.Control or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                    or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                || IsNoncharacter(rune.Value) || IsUnassignedIgnorable(rune.Value)
                || (category is UnicodeCategory.Format && !emojiJoiner))
            {
                return false;
            }

            shows |= !emojiJoiner && !Rune.IsWhiteSpace(rune) && !BlankFillers.Contains(rune.Value)
                && category is not (UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark);
        }

        return shows;
    }

    private static bool IsNoncharacter(int codePoint) => codePoint is >= 0xFDD0 and <= 0xFDEF || (codePoint & 0xFFFE) == 0xFFFE;

    /// <summary>Unassigned code points that Unicode reserves as default-ignorable: whatever they become, they render as nothing.</summary>
    private static bool IsUnassignedIgnorable(int codePoint) =>
        codePoint is 0x2065 or >= 0xFFF0 and <= 0xFFF8 or >= 0xE0080 and <= 0xE00FF or >= 0xE01F0 and <= 0xE0FFF;

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
            return ApiProblem.Invalid("displayName", $"must be 1 to {MaxDisplayNameLength} characters of which some are visible, without control, formatting, line-break or reserved invisible characters");
        }

        var token = issuer.Issue(playerId.ToString(), displayName, TokenIssuer.PlayerRole, GuestLifetime);
        return TypedResults.Ok(new GuestResponse(playerId, displayName, token.Token, token.ExpiresAt.ToUnixTimeMilliseconds()));
    }
}
