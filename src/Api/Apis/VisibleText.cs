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

    /// <summary>
    /// Marks one character may carry: written languages stack up to three or four (Vietnamese two, Devanagari and
    /// Tibetan clusters three or four, an emoji keycap two); "Zalgo" text stacks dozens, which draw a column of
    /// accents over the neighbouring rows of a leaderboard or a room.
    /// </summary>
    public const int MaxStackedMarks = 4;

    /// <summary>What a refused name or title was missing, in every field's error.</summary>
    public static readonly string Rules =
        $"without control, formatting, line-break or reserved invisible characters, and with at most {MaxStackedMarks} marks stacked on a character";

    /// <summary>Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).</summary>
    private static readonly FrozenSet<int> BlankFillers = FrozenSet.ToFrozenSet([0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800]);

    /// <summary>
    /// Nothing invisible: no control characters and no formatting ones (zero-width spaces, direction overrides) except
    /// the joiners emoji sequences use, and something that shows: joiners, spaces, marks (variation selectors,
    /// combining joiners) and blank fillers alone are invisible text. No more than <see cref="MaxStackedMarks"/> marks
    /// in a row.
    /// </summary>
    public static bool Shows(string text)
    {
        var shows = false;
        var stackedMarks = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            var isMark = category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark;
            var emojiJoiner = rune.Value == ZeroWidthJoiner || rune.Value is >= EmojiTagFirst and <= EmojiTagLast;
            // Joiners are invisible and stay in the character: marks on either side of one stack on the same letter.
            stackedMarks = isMark ? stackedMarks + 1 : emojiJoiner ? stackedMarks : 0;
            if (stackedMarks > MaxStackedMarks)
            {
                return false;
            }

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
                && !isMark;
        }

        return shows;
    }

    private static bool IsNoncharacter(int codePoint) => codePoint is >= 0xFDD0 and <= 0xFDEF || (codePoint & 0xFFFE) == 0xFFFE;

    /// <summary>Unassigned code points that Unicode reserves as default-ignorable: whatever they become, they render as nothing.</summary>
    private static bool IsUnassignedIgnorable(int codePoint) =>
        codePoint is 0x2065 or >= 0xFFF0 and <= 0xFFF8 or >= 0xE0080 and <= 0xE00FF or >= 0xE01F0 and <= 0xE0FFF;
}
