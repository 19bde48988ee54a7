using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Concurrency;
using PlayMusic.Competitions;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// One board in memory (a <see cref="RankedSet"/>) backed by PostgreSQL. Reentrant so that queries
/// never wait for writes, and so that concurrent submissions are written as one batch per database
/// round trip (group commit), two batches in flight at once: each caller is answered only after the
/// batch holding its score is committed.
/// </summary>
/// <remarks>
/// A commit appends the whole batch as one row of <c>leaderboard_log</c> (one row and one index entry
/// per commit, whatever the batch size) rather than updating one indexed row per player on the
/// acknowledgement path; a timer folds the log into <c>leaderboard_entries</c> (one set-based upsert
/// of each player's best), and activation reads both, so durability never waits for compaction.
/// </remarks>
[Reentrant]
public sealed class LeaderboardGrain(NpgsqlDataSource dataSource, LeaderboardMetrics metrics, IOptions<LeaderboardOptions> options)
    : Grain, ILeaderboardGrain
{
    /// <summary>
    /// Concurrent batch appends per board: one commits while the next is sent, which hides the WAL flush;
    /// more would only split the waiting submissions into smaller batches that cost more CPU per entry.
    /// </summary>
    public const int MaxWritesInFlight = 2;

    private const string AppendSql =
        "INSERT INTO leaderboard_log (board, player_ids, display_names, scores, achieved_ats) VALUES ($1, $2, $3, $4, $5)";

    /// <summary>
    /// Moves the board's committed log rows into <c>leaderboard_entries</c> in one statement, so the rows
    /// deleted are exactly the rows folded (a batch committing meanwhile stays for the next run). The
    /// <c>WHERE</c> keeps the better of the stored and the logged entry.
    /// </summary>
    private const string CompactSql = """
        WITH moved AS (
            DELETE FROM leaderboard_log WHERE board = $1
            RETURNING player_ids, display_names, scores, achieved_ats
        ), best AS (
            SELECT DISTINCT ON (u.player_id) u.player_id, u.display_name, u.score, u.achieved_at
            FROM moved, unnest(moved.player_ids, moved.display_names, moved.scores, moved.achieved_ats)
                AS u (player_id, display_name, score, achieved_at)
            ORDER BY u.player_id, u.score DESC, u.achieved_at ASC
        )
        INSERT INTO leaderboard_entries AS e (board, player_id, display_name, score, achieved_at)
        SELECT $1, player_id, display_name, score, achieved_at FROM best
        ON CONFLICT (board, player_id) DO UPDATE
            SET display_name = excluded.display_name, score = excluded.score, achieved_at = excluded.achieved_at
            WHERE excluded.score > e.score OR (excluded.score = e.score AND excluded.achieved_at < e.achieved_at)
        """;

    private readonly RankedSet _entries = new();
    private PendingBatch _forming = new();
    private int _writesInFlight;
    private long _uncompacted;
    private bool _compacting;

    private string Board => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // The log is small (what the last compaction left); index it first, then stream the table once.
        var logged = new Dictionary<string, RankedEntry>(StringComparer.Ordinal);
        await foreach (var entry in ReadEntriesAsync(
            "SELECT u.* FROM leaderboard_log AS l, unnest(l.player_ids, l.display_names, l.scores, l.achieved_ats) AS u WHERE l.board = $1",
            cancellationToken))
        {
            _uncompacted++;
            if (entry.Beats(logged.GetValueOrDefault(entry.PlayerId)))
            {
                logged[entry.PlayerId] = entry;
            }
        }

        var rows = new List<RankedEntry>();
        await foreach (var entry in ReadEntriesAsync(
            "SELECT player_id, display_name, score, achieved_at FROM leaderboard_entries WHERE board = $1", cancellationToken))
        {
            rows.Add(logged.Remove(entry.PlayerId, out var better) && better.Beats(entry) ? better : entry);
        }

        rows.AddRange(logged.Values);
        _entries.Load(rows);
        var interval = options.Value.CompactionInterval;
        this.RegisterGrainTimer(CompactAsync, new GrainTimerCreationOptions(interval, interval) { Interleave = true });
    }

    /// <summary>The board's entries from a query of (player id, display name, score, achieved at) rows, as both of its tables yield them.</summary>
    private async IAsyncEnumerable<RankedEntry> ReadEntriesAsync(string sql, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue(Board);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return new RankedEntry(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3));
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        CompactAsync(cancellationToken);

    public async Task<ImmutableArray<SubmissionResult>> SubmitAsync(ImmutableArray<ScoreSubmission> submissions)
    {
        // Every write this call needs is in the batch being formed (it is only sent once this turn ends),
        // so the call waits for that one batch; a score that is not an improvement needs no write.
        var slots = new int[submissions.Length];
        var writes = new PendingWrite?[submissions.Length];
        var batch = _forming;
        for (var i = 0; i < submissions.Length; i++)
        {
            var (playerId, displayName, score, achievedAt) = submissions[i];
            var candidate = new RankedEntry(playerId, displayName, score, achievedAt);
            slots[i] = _entries.SlotOf(playerId);
            if (!_entries.WouldImprove(candidate, slots[i]))
            {
                continue;
            }

            if (!batch.Writes.TryGetValue(playerId, out var write))
            {
                batch.Writes[playerId] = write = new PendingWrite(candidate, slots[i]);
            }
            else if (candidate.Beats(write.Entry))
            {
                write.Entry = candidate;
            }

            writes[i] = write;
        }

        if (batch.Writes.Count > 0)
        {
            StartWrites();
            await batch.Committed.Task;
        }

        var results = ImmutableArray.CreateBuilder<SubmissionResult>(submissions.Length);
        for (var i = 0; i < submissions.Length; i++)
        {
            // A write that another call in the same batch bettered is not this caller's entry.
            var write = writes[i];
            var accepted = write is not null && write.Entry.Score == submissions[i].Score && write.Entry.AchievedAt == submissions[i].AchievedAt;
            var (score, rank) = _entries.StandingAt(write?.Slot ?? slots[i]);
            results.Add(new SubmissionResult(accepted, new PlayerStanding(rank, score)));
        }

        return results.MoveToImmutable();
    }

    public Task<LeaderboardPage> GetPageAsync(LeaderboardQuery query)
    {
        var limit = Math.Clamp(query.Limit, 1, LeaderboardQuery.MaxLimit);
        var me = query.PlayerId is null ? null : StandingOf(query.PlayerId);
        long start = 0;
        if (query.AroundPlayer && me is not null)
        {
            // Centre the page on the player, shifted to stay inside the board at the top and bottom.
            start = Math.Clamp(me.Rank - 1 - (limit - 1) / 2, 0, Math.Max(0, _entries.Count - limit));
        }

        return Task.FromResult(new LeaderboardPage(Entries(start, limit), me, _entries.Count));
    }

    public Task<IReadOnlyList<LeaderboardEntry>> GetRangeAsync(long fromRank, int count) =>
        Task.FromResult<IReadOnlyList<LeaderboardEntry>>(Entries(Math.Max(0, fromRank - 1), Math.Max(0, count)));

    private List<LeaderboardEntry> Entries(long start, int count) =>
        [.. _entries.Range(start, count).Select((e, i) => new LeaderboardEntry(start + i + 1, e.PlayerId, e.DisplayName, e.Score, e.AchievedAt))];

    private PlayerStanding? StandingOf(string playerId) =>
        _entries.Standing(playerId) is (var entry, var rank) ? new PlayerStanding(rank, entry.Score) : null;

    /// <summary>
    /// Starts batch writes while fewer than <see cref="MaxWritesInFlight"/> are running. Several batches
    /// may be in flight at once because compaction keeps the better score whatever the commit order,
    /// and memory is only ever moved to a better entry; requests that arrive meanwhile form the next batch.
    /// </summary>
    private void StartWrites()
    {
        while (_writesInFlight < MaxWritesInFlight && _forming.Writes.Count > 0)
        {
            var batch = _forming;
            _forming = new PendingBatch();
            _writesInFlight++;
            _ = WriteAsync(batch);
        }
    }

    /// <summary>Commits one batch, then applies it to memory and answers its callers. Never throws.</summary>
    private async Task WriteAsync(PendingBatch batch)
    {
        Exception? failure = null;
        try
        {
            await AppendAsync(batch.Writes);
            metrics.WriteBatchSize.Record(batch.Writes.Count);
            foreach (var write in batch.Writes.Values)
            {
                _entries.Improve(write.Entry, ref write.Slot);
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            _writesInFlight--;
            StartWrites();
        }

        // The callers' continuations run inline here, in this turn of the activation, rather than
        // as one more scheduled work item (and thread wake-up) per call.
        if (failure is null)
        {
            batch.Committed.SetResult();
        }
        else
        {
            batch.Committed.SetException(failure);
        }
    }

    /// <summary>Appends a batch as one log row: one statement, one commit, one WAL flush.</summary>
    private async Task AppendAsync(Dictionary<string, PendingWrite> writes)
    {
        var (playerIds, displayNames, scores, achievedAts) = (new string[writes.Count], new string[writes.Count], new long[writes.Count], new long[writes.Count]);
        var i = 0;
        foreach (var write in writes.Values)
        {
            (playerIds[i], displayNames[i], scores[i], achievedAts[i]) = write.Entry;
            i++;
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var append = new NpgsqlCommand(AppendSql, connection)
        {
            Parameters =
            {
                new NpgsqlParameter<string> { TypedValue = Board },
                new NpgsqlParameter<string[]> { TypedValue = playerIds },
                new NpgsqlParameter<string[]> { TypedValue = displayNames },
                new NpgsqlParameter<long[]> { TypedValue = scores },
                new NpgsqlParameter<long[]> { TypedValue = achievedAts },
            },
        };
        await append.PrepareAsync(); // kept per pooled connection: parsed and planned once
        await append.ExecuteNonQueryAsync();
        _uncompacted += writes.Count;
    }

    /// <summary>Folds the log into <c>leaderboard_entries</c> when it has rows; one run at a time.</summary>
    private async Task CompactAsync(CancellationToken cancellationToken)
    {
        if (_compacting || _uncompacted == 0)
        {
            return;
        }

        _compacting = true;
        try
        {
            var folding = _uncompacted;
            var started = Stopwatch.GetTimestamp();
            await using var command = dataSource.CreateCommand(CompactSql);
            command.CommandTimeout = 0; // a large backlog after an outage may take long; it is never on a caller's path
            command.Parameters.AddWithValue(Board);
            await command.ExecuteNonQueryAsync(cancellationToken);
            _uncompacted -= folding;
            metrics.CompactionDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        finally
        {
            _compacting = false;
        }
    }

    /// <summary>The best new entry of one player in a batch, and the player's slot in the board (<see cref="RankedSet.NoSlot"/> until a new player is placed).</summary>
    private sealed class PendingWrite(RankedEntry entry, int slot)
    {
        public RankedEntry Entry = entry;
        public int Slot = slot;
    }

    /// <summary>One commit's worth of writes (one per player) and the signal its callers wait for.</summary>
    private sealed class PendingBatch
    {
        public Dictionary<string, PendingWrite> Writes { get; } = new(StringComparer.Ordinal);

        public TaskCompletionSource Committed { get; } = new();
    }
}
