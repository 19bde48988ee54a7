using System.Collections.Frozen;
using System.Globalization;
using System.Text;

namespace PlayMusic.Api.Apis;

/// <summary>What makes a name or a title something people can read in a list: the rules display names were built on.</summary>
public static class VisibleText
{
    private const int ZeroWidthJoiner = 0x200D;
    private const int EmojiTagFirst = 0xE0020;
    private const int EmojiTagLast = 0xE007F;

    /// <summary>Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).</summary>
    private static readonly FrozenSet<int> BlankFillers = FrozenSet.ToFrozenSet([0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800]);

    /// <summary>
    /// Nothing invisible: no control characters and no formatting ones (zero-width spaces, direction overrides) except
    /// the joiners emoji sequences use, and something that shows: joiners, spaces, marks (variation selectors,
    /// combining joiners) and blank fillers alone are invisible text.
    /// </summary>
    public static bool Shows(string text)
    {
        var shows = false;
        foreach (var rune in text.EnumerateRunes())
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
}
