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
/// of the in-memory best of each player changed since the last run, and the deletion of exactly the
/// log rows that memory holds), and activation reads both, so durability never waits for compaction.
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
        "INSERT INTO leaderboard_log (board, player_ids, display_names, scores, achieved_ats) VALUES ($1, $2, $3, $4, $5) RETURNING id";

    /// <summary>Writes players' entries, keeping the better of the stored and the given one.</summary>
    private const string UpsertSql = """
        INSERT INTO leaderboard_entries AS e (board, player_id, display_name, score, achieved_at)
        SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u
        ON CONFLICT (board, player_id) DO UPDATE
            SET display_name = excluded.display_name, score = excluded.score, achieved_at = excluded.achieved_at
            WHERE excluded.score > e.score OR (excluded.score = e.score AND excluded.achieved_at < e.achieved_at)
        """;

    private const string DeleteLogRowsSql = "DELETE FROM leaderboard_log WHERE board = $1 AND id = ANY($2)";

    private readonly RankedSet _entries = new();
    private PendingBatch _forming = new();
    private int _writesInFlight;

    // What the next compaction folds: log rows whose entries memory holds, and the players they changed.
    private List<long> _foldableLogRows = [];
    private readonly ChangedSlots _changed = new();
    private bool _compacting;

    private string Board => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // The log is small (what the last compaction left); index it first, then stream the table once.
        var logged = new Dictionary<string, RankedEntry>(StringComparer.Ordinal);
        await foreach (var (entry, logRow) in ReadEntriesAsync(
            "SELECT u.*, l.id FROM leaderboard_log AS l, unnest(l.player_ids, l.display_names, l.scores, l.achieved_ats) AS u WHERE l.board = $1",
            cancellationToken))
        {
            if (_foldableLogRows.Count == 0 || _foldableLogRows[^1] != logRow)
            {
                _foldableLogRows.Add(logRow);
            }

            if (entry.Beats(logged.GetValueOrDefault(entry.PlayerId)))
            {
                logged[entry.PlayerId] = entry;
            }
        }

        var rows = new List<RankedEntry>();
        await foreach (var (entry, _) in ReadEntriesAsync(
            "SELECT player_id, display_name, score, achieved_at FROM leaderboard_entries WHERE board = $1", cancellationToken))
        {
            if (logged.TryGetValue(entry.PlayerId, out var better))
            {
                if (better.Beats(entry))
                {
                    continue; // the logged entry is the player's: the next compaction writes it
                }

                logged.Remove(entry.PlayerId);
            }

            rows.Add(entry);
        }

        rows.AddRange(logged.Values);
        _entries.Load(rows);
        foreach (var playerId in logged.Keys)
        {
            _changed.Add(_entries.SlotOf(playerId));
        }

        var interval = options.Value.CompactionInterval;
        this.RegisterGrainTimer(CompactAsync, new GrainTimerCreationOptions(interval, interval) { Interleave = true });
    }

    /// <summary>
    /// The board's entries from a query of (player id, display name, score, achieved at[, log row id]) rows,
    /// as both of its tables yield them; the log row id is 0 for a row of the entries table.
    /// </summary>
    private async IAsyncEnumerable<(RankedEntry Entry, long LogRow)> ReadEntriesAsync(string sql, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue(Board);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var entry = new RankedEntry(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3));
            yield return (entry, reader.FieldCount > 4 ? reader.GetInt64(4) : 0);
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
            var logRow = await AppendAsync(batch.Writes);
            metrics.WriteBatchSize.Record(batch.Writes.Count);
            foreach (var write in batch.Writes.Values)
            {
                _entries.Improve(write.Entry, ref write.Slot);
                _changed.Add(write.Slot);
            }

            _foldableLogRows.Add(logRow);
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

    /// <summary>Appends a batch as one log row: one statement, one commit, one WAL flush. Returns the row's id.</summary>
    private async Task<long> AppendAsync(Dictionary<string, PendingWrite> writes)
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
        return (long)(await append.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Writes the current entry of every player changed since the last run and deletes the log rows those
    /// changes came from, in one transaction; one run at a time. Rows committed meanwhile, and rows still
    /// in flight, stay for the next run. On failure everything stays for the next run.
    /// </summary>
    private async Task CompactAsync(CancellationToken cancellationToken)
    {
        if (_compacting || _foldableLogRows.Count == 0)
        {
            return;
        }

        _compacting = true;
        var (logRows, slots) = (_foldableLogRows, _changed.TakeAll());
        _foldableLogRows = [];
        try
        {
            var started = Stopwatch.GetTimestamp();
            var (playerIds, displayNames, scores, achievedAts) = (new string[slots.Count], new string[slots.Count], new long[slots.Count], new long[slots.Count]);
            for (var i = 0; i < slots.Count; i++)
            {
                (playerIds[i], displayNames[i], scores[i], achievedAts[i]) = _entries.EntryAt(slots[i]);
            }

            await using var batch = dataSource.CreateBatch(); // one implicit transaction: all or nothing
            batch.Timeout = 0; // a large backlog after an outage may take long; it is never on a caller's path
            batch.BatchCommands.Add(new NpgsqlBatchCommand(UpsertSql)
            {
                Parameters = { new() { Value = Board }, new() { Value = playerIds }, new() { Value = displayNames }, new() { Value = scores }, new() { Value = achievedAts } },
            });
            batch.BatchCommands.Add(new NpgsqlBatchCommand(DeleteLogRowsSql) { Parameters = { new() { Value = Board }, new() { Value = logRows.ToArray() } } });
            await batch.ExecuteNonQueryAsync(cancellationToken);
            metrics.CompactionDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        catch
        {
            logRows.AddRange(_foldableLogRows);
            _foldableLogRows = logRows;
            foreach (var slot in slots)
            {
                _changed.Add(slot);
            }

            throw;
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

    /// <summary>Slots changed since the last compaction, each once, in the order they first changed.</summary>
    private sealed class ChangedSlots
    {
        private ulong[] _marks = [];
        private List<int> _slots = [];

        public void Add(int slot)
        {
            var word = slot >> 6;
            if (word >= _marks.Length)
            {
                Array.Resize(ref _marks, Math.Max(word + 1, _marks.Length * 2));
            }

            var bit = 1UL << (slot & 63);
            if ((_marks[word] & bit) == 0)
            {
                _marks[word] |= bit;
                _slots.Add(slot);
            }
        }

        public List<int> TakeAll()
        {
            var taken = _slots;
            _slots = [];
            foreach (var slot in taken)
            {
                _marks[slot >> 6] = 0;
            }

            return taken;
        }
    }
}
