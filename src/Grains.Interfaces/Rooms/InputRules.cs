namespace PlayMusic.Rooms;

/// <summary>
/// The PlayerInput rules of PROTOCOL §2, shared by the hub (which rejects bad input at once) and the room
/// (which re-checks what the batcher forwards, in case a node's view of the seat was stale).
/// </summary>
public static class InputRules
{
    public const int MaxLane = 7;
    public const int MaxAnimLength = 16;

    /// <summary>A seat's last input before its first one: seq -1, so a first input may have seq 0 (ticks show it as 0).</summary>
    public static readonly PlayerInputState NoInput = new(-1, 0, 0, 0, 0, 0, "", 0, 0);

    /// <summary>Null when <paramref name="next"/> may follow <paramref name="previous"/>, else the reason.</summary>
    public static string? Check(in PlayerInputState previous, in PlayerInputState next, int maxScorePerSecond)
    {
        if (!float.IsFinite(next.X) || !float.IsFinite(next.Y) || !float.IsFinite(next.Z))
        {
            return "x, y and z must be finite numbers";
        }

        if (next.Lane is < 0 or > MaxLane)
        {
            return $"lane must be 0..{MaxLane}";
        }

        if (next.Anim.Length > MaxAnimLength)
        {
            return $"anim must be at most {MaxAnimLength} characters";
        }

        if (next.Seq is < 0 or > uint.MaxValue || next.Seq <= previous.Seq)
        {
            return previous.Seq < 0 ? "seq must be a uint32" : $"seq must be a uint32 greater than the last one ({previous.Seq})";
        }

        // PROTOCOL §2: int ≥ 0.
        if (next.Score is < 0 or > int.MaxValue || next.Combo is < 0 or > int.MaxValue)
        {
            return "score and combo must be integers from 0 to 2147483647";
        }

        // PROTOCOL §2 says int: a count-in before the music starts may run below zero.
        if (next.SongTimeMs is < int.MinValue or > int.MaxValue)
        {
            return "songTimeMs must be a 32-bit integer";
        }

        if (next.Score < previous.Score)
        {
            return $"score must not decrease (last {previous.Score})";
        }

        if (next.Score - previous.Score > MaxGain(previous, next, maxScorePerSecond))
        {
            return $"score rises faster than the mode's cap of {maxScorePerSecond}/s";
        }

        return null;
    }

    /// <summary>The cap times the song time since the previous accepted input, plus one second's worth.</summary>
    public static long MaxGain(in PlayerInputState previous, in PlayerInputState next, int maxScorePerSecond) =>
        maxScorePerSecond * Math.Max(0, next.SongTimeMs - previous.SongTimeMs) / 1000 + maxScorePerSecond;
}
