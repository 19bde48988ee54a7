using System.Security.Cryptography;

namespace PlayMusic.Rooms;

/// <summary>6-character join codes from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V).</summary>
public static class JoinCodes
{
    public const int Length = 6;
    public const string Alphabet = "ACDEFGHJKMNPQRTWXY34679";

    public static string Generate() => RandomNumberGenerator.GetString(Alphabet, Length);

    /// <summary>
    /// The canonical (upper-case) code, or null when <paramref name="code"/> cannot be one. Spaces around it (a code
    /// copied from a chat message) do not count.
    /// </summary>
    public static string? Normalize(string? code)
    {
        code = code?.Trim();
        if (code is not { Length: Length })
        {
            return null;
        }

        var upper = code.ToUpperInvariant();
        return upper.All(Alphabet.Contains) ? upper : null;
    }
}
