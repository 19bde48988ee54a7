using System.Globalization;

namespace PlayMusic.Grains.Analytics;

/// <summary>
/// A PostgreSQL MVCC snapshot (<c>pg_current_snapshot()</c>, text form <c>xmin:xmax:xip,…</c>):
/// tells whether a transaction's effects were visible to queries that ran in it.
/// </summary>
public sealed record DatabaseSnapshot(long Xmin, long Xmax, IReadOnlySet<long> InProgress)
{
    /// <summary>Shows nothing: before the first recount every event is new.</summary>
    public static DatabaseSnapshot Empty { get; } = new(0, 0, new HashSet<long>());

    public static DatabaseSnapshot Parse(string text)
    {
        var parts = text.Split(':');
        var inProgress = parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToHashSet();
        return new DatabaseSnapshot(long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture), inProgress);
    }

    /// <summary>Same rule as <c>pg_visible_in_snapshot</c> for a committed transaction.</summary>
    public bool Shows(long transactionId) =>
        transactionId < Xmin || (transactionId < Xmax && !InProgress.Contains(transactionId));
}
