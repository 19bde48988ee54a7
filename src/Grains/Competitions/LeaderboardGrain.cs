using Npgsql;
using Orleans.Concurrency;
using PlayMusic.Competitions;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// One board in memory (a <see cref="RankedSet"/>) backed by its rows in <c>leaderboard_entries</c>.
/// Reentrant so that queries never wait for writes, and so that concurrent submissions are written
/// as one batch per database round trip (group commit), two batches in flight at once: each caller
/// is answered only after the batch holding its score is committed.
/// </summary>
[Reentrant]
public sealed class LeaderboardGrain(NpgsqlDataSource dataSource, LeaderboardMetrics metrics) : Grain, ILeaderboardGrain
{
    /// <summary>
    /// Concurrent batch upserts per board: one commits while the next is sent, which hides the WAL flush;
    /// more would only split the waiting submissions into smaller batches that cost more CPU per entry.
    /// </summary>
    public const int MaxWritesInFlight = 2;

    /// <summary>
    /// New players' entries, the whole batch in one statement; the <c>WHERE</c> keeps the better of the
    /// stored and the new entry (a row can exist that memory lacks, when a commit's reply was lost).
    /// </summary>
    private const string UpsertSql = """
        INSERT INTO leaderboard_entries AS e (board, player_id, display_name, score, achieved_at)
        SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
        ON CONFLICT (board, player_id) DO UPDATE
            SET display_name = excluded.display_name, score = excluded.score, achieved_at = excluded.achieved_at
            WHERE excluded.score > e.score OR (excluded.score = e.score AND excluded.achieved_at < e.achieved_at)
        """;

    /// <summary>
    /// Players with an entry in memory have a row (memory only ever follows a commit), so a plain
    /// UPDATE does: it skips the upsert's conflict check and row lock (one WAL record less per entry).
    /// The <c>WHERE</c> keeps the better entry whatever the commit order of concurrent batches.
    /// </summary>
    private const string ImproveSql = """
        UPDATE leaderboard_entries AS e
            SET display_name = u.display_name, score = u.score, achieved_at = u.achieved_at
        FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u (player_id, display_name, score, achieved_at)
        WHERE e.board = $1 AND e.player_id = u.player_id
            AND (u.score > e.score OR (u.score = e.score AND u.achieved_at < e.achieved_at))
        """;

    private readonly RankedSet _entries = new();
    private Dictionary<string, PendingWrite> _pending = new(StringComparer.Ordinal);
    private int _writesInFlight;

    private string Board => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var rows = new List<RankedEntry>();
        await using var command = dataSource.CreateCommand(
            "SELECT player_id, display_name, score, achieved_at FROM leaderboard_entries WHERE board = $1");
        command.Parameters.AddWithValue(Board);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RankedEntry(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
        }

        _entries.Load(rows);
    }

    public async Task<SubmissionResult> SubmitAsync(ScoreSubmission submission)
    {
        var candidate = new RankedEntry(submission.PlayerId, submission.DisplayName, submission.Score, submission.AchievedAt);
        if (!candidate.Beats(_entries.Find(candidate.PlayerId)))
        {
            return new SubmissionResult(false, StandingOf(candidate.PlayerId)!);
        }

        if (!_pending.TryGetValue(candidate.PlayerId, out var write))
        {
            _pending[candidate.PlayerId] = write = new PendingWrite(candidate);
        }
        else if (candidate.Beats(write.Entry))
        {
            write.Entry = candidate;
        }

        StartWrites();
        await write.Committed.Task;
        return new SubmissionResult(_entries.Find(candidate.PlayerId) == candidate, StandingOf(candidate.PlayerId)!);
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
        _entries.Find(playerId) is { } entry ? new PlayerStanding(_entries.RankOf(playerId), entry.Score) : null;

    /// <summary>
    /// Starts batch writes while fewer than <see cref="MaxWritesInFlight"/> are running. Several batches
    /// may be in flight at once because the upsert keeps the better score whatever the commit order,
    /// and memory is only ever moved to a better entry; requests that arrive meanwhile form the next batch.
    /// </summary>
    private void StartWrites()
    {
        while (_writesInFlight < MaxWritesInFlight && _pending.Count > 0)
        {
            var batch = _pending.Values.ToList();
            _pending = new Dictionary<string, PendingWrite>(StringComparer.Ordinal);
            _writesInFlight++;
            _ = WriteAsync(batch);
        }
    }

    /// <summary>Commits one batch, then applies it to memory and answers its callers. Never throws.</summary>
    private async Task WriteAsync(List<PendingWrite> batch)
    {
        Exception? failure = null;
        try
        {
            await UpsertAsync(batch);
            metrics.WriteBatchSize.Record(batch.Count);
            foreach (var write in batch)
            {
                if (write.Entry.Beats(_entries.Find(write.Entry.PlayerId)))
                {
                    _entries.Set(write.Entry);
                }
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
        // as one more scheduled work item (and thread wake-up) per submission.
        foreach (var write in batch)
        {
            if (failure is null)
            {
                write.Committed.SetResult();
            }
            else
            {
                write.Committed.SetException(failure);
            }
        }
    }

    /// <summary>Writes a batch as one round trip and one transaction: an UPDATE for known players, an upsert for new ones.</summary>
    private async Task UpsertAsync(List<PendingWrite> batch)
    {
        var known = batch.Where(w => _entries.Find(w.Entry.PlayerId) is not null).Select(w => w.Entry).ToList();
        var added = batch.Where(w => _entries.Find(w.Entry.PlayerId) is null).Select(w => w.Entry).ToList();
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var write = new NpgsqlBatch(connection);
        if (known.Count > 0)
        {
            write.BatchCommands.Add(EntriesCommand(ImproveSql, known));
        }

        if (added.Count > 0)
        {
            write.BatchCommands.Add(EntriesCommand(UpsertSql, added));
        }

        // One Sync for the whole batch: both statements commit together (one WAL flush).
        await write.PrepareAsync(); // kept per pooled connection: parsed and planned once
        await write.ExecuteNonQueryAsync();
    }

    private NpgsqlBatchCommand EntriesCommand(string sql, List<RankedEntry> entries)
    {
        var (playerIds, displayNames, scores, achievedAts) = (new string[entries.Count], new string[entries.Count], new long[entries.Count], new long[entries.Count]);
        for (var i = 0; i < entries.Count; i++)
        {
            (playerIds[i], displayNames[i], scores[i], achievedAts[i]) = entries[i];
        }

        return new NpgsqlBatchCommand(sql)
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
    }

    private sealed class PendingWrite(RankedEntry entry)
    {
        public RankedEntry Entry { get; set; } = entry;

        public TaskCompletionSource Committed { get; } = new();
    }
}
