using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;
using PlayMusic.Analytics;
using PlayMusic.Api.Errors;
using PlayMusic.Competitions;
using PlayMusic.Grains.Diagnostics;
using PlayMusic.Hosting;
using Orleans.Runtime;

namespace PlayMusic.Api.Telemetry;

public sealed record SessionRow(
    Guid SessionId, Guid LoadId, string PlayerId, string DisplayName, string GameId, string Mode, string Portal,
    string? ReferrerHost, string? Country, string? DeviceTier, string? EngineVersion, DateTime StartedAt);

public sealed record PerfRow(Guid SessionId, int DownloadMs, int ConfigMs, int AssetsMs, int AudioMs, int? GatewayMs, DateTime ReceivedAt);

public sealed record EndRow(Guid SessionId, long Score, long DurationMs, bool Completed, DateTime EndedAt);

public sealed record DropoutRow(
    Guid LoadId, string GameId, string Portal, string? ReferrerHost, string Stage, int ElapsedMs,
    string? Country, string? DeviceTier, DateTime ReceivedAt);

public enum PerfOutcome
{
    Stored,
    AlreadyReported,
    UnknownSession,
}

/// <summary>The end a session has in the database (the first one sent) and what the session says about it.</summary>
public sealed record StoredEnd(
    Guid SessionId, string PlayerId, string DisplayName, string GameId, string Mode, string Portal,
    long Score, long DurationMs, bool Completed, DateTime StartedAt, DateTime EndedAt)
{
    /// <summary>
    /// The run's length as far as the server can vouch for it: the engine's <see cref="DurationMs"/>, but no
    /// more than the time between the session's start and its end reaching the server. The plausibility
    /// cap multiplies this, so a claimed day-long run ended a second after it started cannot top a board.
    /// </summary>
    public long CreditedDurationMs => Math.Clamp((long)(EndedAt - StartedAt).TotalMilliseconds, 0, DurationMs);

    /// <summary>Stored ends with their sessions (<c>e</c>, <c>s</c>) as <see cref="Read"/> takes them; callers add the WHERE.</summary>
    public const string SelectSql = """
        SELECT e.session_id, s.player_id, s.display_name, s.game_id, s.mode, s.portal, e.score, e.duration_ms, e.completed, s.started_at, e.ended_at
        FROM telemetry_session_ends e JOIN telemetry_sessions s ON s.session_id = e.session_id
        """;

    public static StoredEnd Read(NpgsqlDataReader reader) =>
        new(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
            reader.GetInt64(6), reader.GetInt64(7), reader.GetBoolean(8), reader.GetDateTime(9), reader.GetDateTime(10));

    /// <summary>The run the boards and tournaments record: its id is the session's, so handing it over twice counts once.</summary>
    public CompletedRun ToRun() => new(SessionId.ToString(), PlayerId, DisplayName, GameId, Mode, Portal, Score, CreditedDurationMs,
        new DateTimeOffset(EndedAt).ToUnixTimeMilliseconds());
}

/// <summary>
/// Group commit for raw telemetry: requests queue their rows on a channel; a dispatch loop takes
/// everything queued (up to <see cref="MaxBatch"/>) and stores it with one multi-statement round
/// trip, which PostgreSQL runs as one implicit transaction. <see cref="MaxInFlight"/> batches
/// commit at once and the next one fills meanwhile, so batches grow with the load (two in flight
/// overlapped WAL flushes but halved the batches, and measured slower: docs/benchmarks.md). Each
/// request's task completes only after its batch's commit, so a 2xx always means the row is durable.
/// <para>
/// The inserts decide nothing that depends on other batches except through PostgreSQL's own
/// locks (the perf/end primary keys), so concurrent batches (of this node, or of other API nodes)
/// answer correctly. What does depend on order (the replay and first-session flags, a load's first
/// beacon) is read after commit by one counting loop that takes batches in dispatch order and waits
/// for each one's commit, so when it reads batch N every earlier batch of this node has committed;
/// sessions are stamped so that a later batch never starts before an earlier one
/// (<see cref="StampSessions"/>). Then the events go to the counter grains on the telemetry stream.
/// </para>
/// </summary>
public sealed class TelemetryWriter(
    [FromKeyedServices(TelemetryWriter.DataSourceKey)] NpgsqlDataSource dataSource,
    IClusterClient cluster,
    IMeterFactory meters,
    ILogger<TelemetryWriter> logger) : BackgroundService
{
    /// <summary>The writer's own connections (<see cref="AnalyticsExtensions.AddPlayMusicAnalytics"/>).</summary>
    public const string DataSourceKey = "telemetry-writer";

    public const int MaxBatch = 1000;
    public const int MaxInFlight = 1;

    /// <summary>
    /// The counting loop reads flags and publishes at most this often: under load one flag query
    /// and one stream message per portal × day cover many batches instead of one each.
    /// </summary>
    public static readonly TimeSpan CountInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// A publish to a silo that died without closing its sockets would wait for Orleans' 30 s response timeout while
    /// committed batches pile up behind the counting loop and then hold up the dispatch loop: the stream is best
    /// effort (recounts repair it), the ingest is not.
    /// </summary>
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(5);

    private const string TransactionSql = "SELECT pg_current_xact_id()::text::bigint";

    private const string SessionsSql = """
        INSERT INTO telemetry_sessions (session_id, load_id, player_id, display_name, game_id, mode, portal,
                                        referrer_host, country, device_tier, engine_version, started_at)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
        """;

    // Rows are inserted in key order, so concurrent batches take the primary-key locks of
    // telemetry_perf and telemetry_session_ends in one order and cannot deadlock.
    // Sessions are looked up through LATERAL … LIMIT 1, which PostgreSQL can only run as one key probe per row: the
    // writer's plans are generic and made at its first batch, and an EXISTS planned on a new, empty table became a
    // hash join over a scan of all of telemetry_sessions at every batch until autovacuum's first analyse
    // (docs/telemetry.md).
    // A session that does not exist yields no row.
    internal const string PerfSql = """
        WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::timestamptz[])
                AS t(session_id, download_ms, config_ms, assets_ms, audio_ms, gateway_ms, received_at)),
        known AS (
            SELECT i.*, s.portal, s.started_at AS session_started_at, s.country, s.device_tier FROM input i
            CROSS JOIN LATERAL (SELECT portal, started_at, country, device_tier FROM telemetry_sessions
                                WHERE session_id = i.session_id LIMIT 1) s),
        inserted AS (
            INSERT INTO telemetry_perf (session_id, download_ms, config_ms, assets_ms, audio_ms, gateway_ms, received_at)
            SELECT session_id, download_ms, config_ms, assets_ms, audio_ms, gateway_ms, received_at FROM known
            ORDER BY session_id
            ON CONFLICT (session_id) DO NOTHING
            RETURNING session_id)
        SELECT k.session_id, n.session_id IS NOT NULL, k.portal, k.session_started_at, k.country, k.device_tier
        FROM known k LEFT JOIN inserted n ON n.session_id = k.session_id
        """;

    internal const string EndsSql = """
        INSERT INTO telemetry_session_ends (session_id, score, duration_ms, completed, ended_at)
        SELECT i.* FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::boolean[], $5::timestamptz[])
            AS i(session_id, score, duration_ms, completed, ended_at)
        CROSS JOIN LATERAL (SELECT 1 FROM telemetry_sessions s WHERE s.session_id = i.session_id LIMIT 1) s
        ORDER BY i.session_id
        ON CONFLICT (session_id) DO NOTHING
        RETURNING session_id
        """;

    // A statement of its own: its snapshot is taken after the insert above, so it sees the first
    // end even when a concurrent batch stored it (the insert waited for that batch's commit).
    private const string StoredEndsSql = $"""
        {StoredEnd.SelectSql}
        WHERE e.session_id = ANY($1)
        """;

    private const string DropoutsSql = """
        INSERT INTO telemetry_dropouts (load_id, game_id, portal, referrer_host, stage, elapsed_ms, country, device_tier, received_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::timestamptz[])
        RETURNING id
        """;

    // Read after commit, in dispatch order: the same definitions as the counters' recount. The load's
    // first beacon, if any, is where a drop-out may have been counted that this session now resolves.
    // The sessions themselves come from the batch (as stored: stamped before the insert), not read back.
    internal const string SessionFlagsSql = """
        SELECT s.session_id, s.load_id, s.player_id, s.portal, s.started_at, s.country, s.device_tier,
            EXISTS (SELECT 1 FROM telemetry_sessions p WHERE p.player_id = s.player_id AND p.game_id = s.game_id
                    AND (p.started_at, p.session_id) < (s.started_at, s.session_id)),
            f.session_id = s.session_id, f.portal, f.started_at, f.country, f.device_tier, b.portal, b.received_at
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
            AS s(session_id, load_id, player_id, game_id, portal, started_at, country, device_tier)
        CROSS JOIN LATERAL (
            SELECT session_id, portal, started_at, country, device_tier FROM telemetry_sessions
            WHERE player_id = s.player_id ORDER BY started_at, session_id LIMIT 1) f
        LEFT JOIN LATERAL (
            SELECT portal, received_at FROM telemetry_dropouts WHERE load_id = s.load_id ORDER BY id LIMIT 1) b ON true
        """;

    private const string DropoutFlagsSql = """
        SELECT d.id, d.load_id, d.portal, d.received_at, d.country, d.device_tier FROM telemetry_dropouts d
        WHERE d.id = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM telemetry_dropouts e WHERE e.load_id = d.load_id AND e.id < d.id)
          AND NOT EXISTS (SELECT 1 FROM telemetry_sessions s WHERE s.load_id = d.load_id)
        """;

    private static readonly TimeSpan Microsecond = TimeSpan.FromTicks(TimeSpan.TicksPerMicrosecond);

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(10 * MaxBatch)
    {
        SingleReader = true,
    });

    // Writes in dispatch order; the counting loop awaits each one, so it sees commits in that order.
    // Roomy: the counting loop takes a CountInterval's worth of batches at once.
    private readonly Channel<Task<CommittedBatch?>> _committed = Channel.CreateBounded<Task<CommittedBatch?>>(MaxBatch);

    private readonly SemaphoreSlim _connections = new(MaxInFlight);

    private readonly ObservedCount _ingested = IngestedEvents(meters);

    private readonly Histogram<int> _batchSize = meters.Create(TelemetryExtensions.PlayMusicMeter)
        .CreateHistogram<int>("playmusic.analytics.batch_size", description: "Telemetry rows per group commit");

    /// <summary>Observed rather than added to, so <c>/metrics</c> shows the series (at 0) before the first event.</summary>
    private static ObservedCount IngestedEvents(IMeterFactory meters)
    {
        var count = new ObservedCount();
        count.CounterOn(meters.Create(TelemetryExtensions.PlayMusicMeter), "playmusic.analytics.events_ingested", null, "Telemetry events durably stored");
        return count;
    }

    /// <summary>Latest <c>started_at</c> of any dispatched batch (only the dispatch loop uses it).</summary>
    private DateTime _lastStartedAt = DateTime.MinValue;

    public Task StoreSessionAsync(SessionRow row) => EnqueueAsync<object?>(row);

    public Task<PerfOutcome> StorePerfAsync(PerfRow row) => EnqueueAsync<PerfOutcome>(row);

    /// <summary>Null when the session does not exist.</summary>
    public Task<StoredEnd?> StoreEndAsync(EndRow row) => EnqueueAsync<StoredEnd?>(row);

    public Task StoreDropoutAsync(DropoutRow row) => EnqueueAsync<object?>(row);

    /// <summary>Whether a session is stored (sessions are answered only once committed, and never deleted).</summary>
    public async Task<bool> SessionExistsAsync(Guid sessionId)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM telemetry_sessions WHERE session_id = $1)");
            command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = sessionId });
            return (bool)(await command.ExecuteScalarAsync())!;
        }
        catch (NpgsqlException ex)
        {
            throw new TelemetryUnavailableException(ex);
        }
    }

    private async Task<T> EnqueueAsync<T>(object row)
    {
        var pending = new Pending(row);
        try
        {
            await _queue.Writer.WriteAsync(pending);
        }
        catch (ChannelClosedException ex)
        {
            throw new TelemetryUnavailableException(ex);
        }

        return (T)(await pending.Done.Task)!;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Task.Run(DispatchLoopAsync, CancellationToken.None), Task.Run(CountLoopAsync, CancellationToken.None));

    private async Task DispatchLoopAsync()
    {
        // Requests still queued at shutdown are written too: the channel is drained, not dropped.
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // While every connection is busy, requests keep queueing: the next batch grows.
            await _connections.WaitAsync();
            var batch = new List<Pending>();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            StampSessions(batch);
            await _committed.Writer.WriteAsync(WriteAndReleaseAsync(batch));
        }

        _committed.Writer.Complete();
    }

    /// <summary>
    /// Makes every session of this batch start after every session of earlier batches (at most by
    /// the few milliseconds a request can spend before reaching the queue), so when the counting
    /// loop reads a batch's flags, no session that orders before it can still be uncommitted.
    /// PostgreSQL keeps microseconds, hence the truncation.
    /// </summary>
    private void StampSessions(List<Pending> batch)
    {
        var earliest = _lastStartedAt + Microsecond;
        foreach (var pending in batch)
        {
            if (pending.Row is SessionRow row)
            {
                var startedAt = new DateTime(row.StartedAt.Ticks - (row.StartedAt.Ticks % TimeSpan.TicksPerMicrosecond), DateTimeKind.Utc);
                startedAt = startedAt < earliest ? earliest : startedAt;
                pending.Row = row with { StartedAt = startedAt };
                _lastStartedAt = startedAt > _lastStartedAt ? startedAt : _lastStartedAt;
            }
        }
    }

    /// <summary>Never throws: a failed batch fails its requests (503) and yields null.</summary>
    private async Task<CommittedBatch?> WriteAndReleaseAsync(List<Pending> batch)
    {
        try
        {
            // A pooled connection: the app's pool skips the session reset (docs/platform.md), so reuse costs no statements.
            await using var connection = await dataSource.OpenConnectionAsync();
            var committed = await WriteAsync(connection, batch);
            _batchSize.Record(batch.Count);
            _ingested.Add(committed.StoredRows);
            return committed;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Telemetry batch of {Count} rows failed", batch.Count);
            batch.ForEach(p => p.Done.TrySetException(new TelemetryUnavailableException(ex)));
            return null;
        }
        finally
        {
            _connections.Release();
        }
    }

    /// <summary>
    /// Counts committed batches in dispatch order. When it falls behind, it takes every batch
    /// that has already committed at once (one flag query, one round of stream messages), so it
    /// never holds back the writers for long.
    /// </summary>
    private async Task CountLoopAsync()
    {
        var writes = _committed.Reader;
        var sinceCount = Stopwatch.StartNew();
        while (await writes.WaitToReadAsync())
        {
            if (CountInterval - sinceCount.Elapsed is { Ticks: > 0 } wait)
            {
                await Task.Delay(wait);
            }

            sinceCount.Restart();
            var group = new List<CommittedBatch>();
            while (writes.TryPeek(out var write) && (group.Count == 0 || write.IsCompleted) && writes.TryRead(out _))
            {
                if (await write is { } committed)
                {
                    group.Add(committed);
                }
            }

            try
            {
                await using var connection = await dataSource.OpenConnectionAsync();
                await PublishAsync(await CountAsync(connection, group)).WaitAsync(PublishTimeout);
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Counting committed telemetry failed; the counters catch up on their next recount");
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    /// <summary>Stores the batch and completes every request in it once it has committed.</summary>
    private static async Task<CommittedBatch> WriteAsync(NpgsqlConnection connection, List<Pending> batch)
    {
        var sessions = batch.Where(p => p.Row is SessionRow).Select(p => (SessionRow)p.Row).ToList();
        var dropouts = batch.Where(p => p.Row is DropoutRow).Select(p => (DropoutRow)p.Row).ToList();
        // Repeats of one session inside a batch are answered from the first one's outcome.
        var perfs = batch.Where(p => p.Row is PerfRow).GroupBy(p => ((PerfRow)p.Row).SessionId).ToList();
        var ends = batch.Where(p => p.Row is EndRow).GroupBy(p => ((EndRow)p.Row).SessionId).ToList();

        await using var command = connection.CreateBatch();
        command.BatchCommands.Add(new NpgsqlBatchCommand(TransactionSql));
        if (sessions.Count > 0)
        {
            command.BatchCommands.Add(Statement(SessionsSql,
                Array(sessions, r => r.SessionId, NpgsqlDbType.Uuid), Array(sessions, r => r.LoadId, NpgsqlDbType.Uuid),
                Array(sessions, r => r.PlayerId, NpgsqlDbType.Text), Array(sessions, r => r.DisplayName, NpgsqlDbType.Text),
                Array(sessions, r => r.GameId, NpgsqlDbType.Text), Array(sessions, r => r.Mode, NpgsqlDbType.Text),
                Array(sessions, r => r.Portal, NpgsqlDbType.Text), Array(sessions, r => r.ReferrerHost, NpgsqlDbType.Text),
                Array(sessions, r => r.Country, NpgsqlDbType.Text), Array(sessions, r => r.DeviceTier, NpgsqlDbType.Text),
                Array(sessions, r => r.EngineVersion, NpgsqlDbType.Text), Array(sessions, r => r.StartedAt, NpgsqlDbType.TimestampTz)));
        }

        if (perfs.Count > 0)
        {
            var rows = perfs.Select(g => (PerfRow)g.First().Row).ToList();
            command.BatchCommands.Add(Statement(PerfSql,
                Array(rows, r => r.SessionId, NpgsqlDbType.Uuid), Array(rows, r => r.DownloadMs, NpgsqlDbType.Integer),
                Array(rows, r => r.ConfigMs, NpgsqlDbType.Integer), Array(rows, r => r.AssetsMs, NpgsqlDbType.Integer),
                Array(rows, r => r.AudioMs, NpgsqlDbType.Integer), Array(rows, r => r.GatewayMs, NpgsqlDbType.Integer),
                Array(rows, r => r.ReceivedAt, NpgsqlDbType.TimestampTz)));
        }

        if (ends.Count > 0)
        {
            var rows = ends.Select(g => (EndRow)g.First().Row).ToList();
            command.BatchCommands.Add(Statement(EndsSql,
                Array(rows, r => r.SessionId, NpgsqlDbType.Uuid), Array(rows, r => r.Score, NpgsqlDbType.Bigint),
                Array(rows, r => r.DurationMs, NpgsqlDbType.Bigint), Array(rows, r => r.Completed, NpgsqlDbType.Boolean),
                Array(rows, r => r.EndedAt, NpgsqlDbType.TimestampTz)));
            command.BatchCommands.Add(Statement(StoredEndsSql, Array(rows, r => r.SessionId, NpgsqlDbType.Uuid)));
        }

        if (dropouts.Count > 0)
        {
            command.BatchCommands.Add(Statement(DropoutsSql,
                Array(dropouts, r => r.LoadId, NpgsqlDbType.Uuid), Array(dropouts, r => r.GameId, NpgsqlDbType.Text),
                Array(dropouts, r => r.Portal, NpgsqlDbType.Text), Array(dropouts, r => r.ReferrerHost, NpgsqlDbType.Text),
                Array(dropouts, r => r.Stage, NpgsqlDbType.Text), Array(dropouts, r => r.ElapsedMs, NpgsqlDbType.Integer),
                Array(dropouts, r => r.Country, NpgsqlDbType.Text), Array(dropouts, r => r.DeviceTier, NpgsqlDbType.Text),
                Array(dropouts, r => r.ReceivedAt, NpgsqlDbType.TimestampTz)));
        }

        // Npgsql keeps prepared statements per pooled connection: a round trip only the first time a
        // connection sees a statement; after that PostgreSQL skips parsing and planning.
        await command.PrepareAsync();

        // Results are collected first and handed out only after the whole batch has committed
        // (the implicit transaction commits when the last statement's results are read).
        var completions = new List<Action>();
        var committed = new CommittedBatch(sessions);
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            committed.TransactionId = reader.GetInt64(0);
            // NextResult skips statements that return no rows (the session insert).
            if (perfs.Count > 0)
            {
                await reader.NextResultAsync();
                // Only sessions that exist have a row.
                var bySession = perfs.ToDictionary(g => g.Key);
                var outcomes = new Dictionary<Guid, PerfOutcome>();
                while (await reader.ReadAsync())
                {
                    var sessionId = reader.GetGuid(0);
                    var stored = reader.GetBoolean(1);
                    outcomes[sessionId] = stored ? PerfOutcome.Stored : PerfOutcome.AlreadyReported;
                    if (stored)
                    {
                        var row = (PerfRow)bySession[sessionId].First().Row;
                        committed.Perfs.Add((reader.GetString(2), reader.GetDateTime(3), new PerfCounted(
                            Dimensions.Of(NullableString(reader, 4), NullableString(reader, 5)), row.DownloadMs, row.ConfigMs, row.AssetsMs, row.AudioMs)));
                    }
                }

                completions.Add(() => perfs.ForEach(group =>
                {
                    var outcome = outcomes.GetValueOrDefault(group.Key, PerfOutcome.UnknownSession);
                    group.First().Done.TrySetResult(outcome);
                    foreach (var later in group.Skip(1))
                    {
                        later.Done.TrySetResult(outcome == PerfOutcome.UnknownSession ? outcome : PerfOutcome.AlreadyReported);
                    }
                }));
            }

            if (ends.Count > 0)
            {
                await reader.NextResultAsync();
                while (await reader.ReadAsync())
                {
                    committed.StoredRows++;
                }

                await reader.NextResultAsync();
                var found = new Dictionary<Guid, StoredEnd>();
                while (await reader.ReadAsync())
                {
                    var end = StoredEnd.Read(reader);
                    found[end.SessionId] = end;
                }

                completions.Add(() => ends.ForEach(g =>
                {
                    var end = found.GetValueOrDefault(g.Key);
                    foreach (var pending in g)
                    {
                        pending.Done.TrySetResult(end);
                    }
                }));
            }

            if (dropouts.Count > 0)
            {
                await reader.NextResultAsync();
                while (await reader.ReadAsync())
                {
                    committed.DropoutIds.Add(reader.GetInt64(0));
                }
            }

            committed.StoredRows += sessions.Count + committed.Perfs.Count + committed.DropoutIds.Count;

            // Reads through ReadyForQuery: an error at commit surfaces here, before anyone is answered.
            while (await reader.NextResultAsync())
            {
            }
        }

        completions.ForEach(complete => complete());
        foreach (var pending in batch.Where(p => p.Row is SessionRow or DropoutRow))
        {
            pending.Done.TrySetResult(null);
        }

        return committed;
    }

    /// <summary>
    /// The counters' events of committed batches, per portal × day and transaction.
    /// Runs in dispatch order after every earlier batch has committed, so the flags read here see
    /// every session that orders before these batches' sessions.
    /// </summary>
    private static async Task<Dictionary<(string Key, long TransactionId), EventsBuilder>> CountAsync(NpgsqlConnection connection, List<CommittedBatch> group)
    {
        var events = new Dictionary<(string, long), EventsBuilder>();
        EventsBuilder EventsFor(string portal, DateTime at, long transactionId)
        {
            var key = (TelemetryStreams.Key(portal, TelemetryStreams.Day(at)), transactionId);
            if (!events.TryGetValue(key, out var builder))
            {
                events[key] = builder = new EventsBuilder(transactionId);
            }

            return builder;
        }

        var sessions = new List<SessionRow>();
        var sessionTransactions = new Dictionary<Guid, long>();
        var dropoutTransactions = new Dictionary<long, long>();
        foreach (var committed in group)
        {
            foreach (var (portal, startedAt, perf) in committed.Perfs)
            {
                EventsFor(portal, startedAt, committed.TransactionId).Perfs.Add(perf);
            }

            sessions.AddRange(committed.Sessions);
            committed.Sessions.ForEach(row => sessionTransactions[row.SessionId] = committed.TransactionId);
            committed.DropoutIds.ForEach(id => dropoutTransactions[id] = committed.TransactionId);
        }

        if (sessionTransactions.Count == 0 && dropoutTransactions.Count == 0)
        {
            return events;
        }

        await using var command = connection.CreateBatch();
        command.BatchCommands.Add(Statement(SessionFlagsSql,
            Array(sessions, r => r.SessionId, NpgsqlDbType.Uuid), Array(sessions, r => r.LoadId, NpgsqlDbType.Uuid),
            Array(sessions, r => r.PlayerId, NpgsqlDbType.Text), Array(sessions, r => r.GameId, NpgsqlDbType.Text),
            Array(sessions, r => r.Portal, NpgsqlDbType.Text), Array(sessions, r => r.StartedAt, NpgsqlDbType.TimestampTz),
            Array(sessions, r => r.Country, NpgsqlDbType.Text), Array(sessions, r => r.DeviceTier, NpgsqlDbType.Text)));
        command.BatchCommands.Add(Statement(DropoutFlagsSql,
            new NpgsqlParameter { Value = dropoutTransactions.Keys.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint }));
        await command.PrepareAsync();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var (playerId, startedAt, isFirst, firstAt) = (reader.GetString(2), reader.GetDateTime(4), reader.GetBoolean(8), reader.GetDateTime(10));
            var transactionId = sessionTransactions[reader.GetGuid(0)];
            EventsFor(reader.GetString(3), startedAt, transactionId).Sessions.Add(new SessionCounted(
                reader.GetGuid(1), playerId, Dimensions.Of(NullableString(reader, 5), NullableString(reader, 6)), reader.GetBoolean(7), isFirst));
            if (!reader.IsDBNull(13))
            {
                EventsFor(reader.GetString(13), reader.GetDateTime(14), transactionId).ResolvedDropouts.Add(reader.GetGuid(1));
            }

            var dayOffset = TelemetryStreams.Day(startedAt).DayNumber - TelemetryStreams.Day(firstAt).DayNumber;
            if (!isFirst && PortalDayCounts.RetentionDays.Contains(dayOffset))
            {
                EventsFor(reader.GetString(9), firstAt, transactionId).Returns.Add(new PlayerReturned(
                    playerId, Dimensions.Of(NullableString(reader, 11), NullableString(reader, 12)), dayOffset));
            }
        }

        await reader.NextResultAsync();
        while (await reader.ReadAsync())
        {
            EventsFor(reader.GetString(2), reader.GetDateTime(3), dropoutTransactions[reader.GetInt64(0)]).Dropouts.Add(new DropoutCounted(
                reader.GetGuid(1), Dimensions.Of(NullableString(reader, 4), NullableString(reader, 5))));
        }

        return events;
    }

    /// <summary>
    /// Best effort: a lost message only delays a counter until its next recount from the raw
    /// tables (activation or the periodic reconcile), never loses an event.
    /// </summary>
    private async Task PublishAsync(Dictionary<(string Key, long TransactionId), EventsBuilder> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        var provider = cluster.GetStreamProvider(TelemetryStreams.ProviderName);
        await Task.WhenAll(events.GroupBy(e => e.Key.Key).Select(counter =>
            provider.GetStream<PortalDayEventBatch>(StreamId.Create(TelemetryStreams.Namespace, counter.Key))
                .OnNextAsync(new PortalDayEventBatch(counter.Select(e => e.Value.Build()).ToList()))));
    }

    private static NpgsqlBatchCommand Statement(string sql, params NpgsqlParameter[] parameters)
    {
        var statement = new NpgsqlBatchCommand(sql);
        statement.Parameters.AddRange(parameters);
        return statement;
    }

    private static NpgsqlParameter Array<TRow, TValue>(List<TRow> rows, Func<TRow, TValue> value, NpgsqlDbType type) =>
        new() { Value = rows.Select(value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | type };

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private sealed class Pending(object row)
    {
        /// <summary>Replaced once by the dispatch loop when it stamps a session's start.</summary>
        public object Row { get; set; } = row;

        /// <summary>
        /// Continuations run synchronously: after a commit the writer answers its whole batch in one
        /// go instead of queueing a thread-pool item (and waking a thread) per request.
        /// </summary>
        public TaskCompletionSource<object?> Done { get; } = new();
    }

    /// <summary>What the counting loop needs of a committed batch; the rest it reads back.</summary>
    private sealed class CommittedBatch(List<SessionRow> sessions)
    {
        public long TransactionId { get; set; }

        /// <summary>Rows the batch added: repeated perf reports and ends, answered from the first, add none.</summary>
        public int StoredRows { get; set; }

        public List<SessionRow> Sessions { get; } = sessions;

        public List<long> DropoutIds { get; } = [];

        public List<(string Portal, DateTime StartedAt, PerfCounted Perf)> Perfs { get; } = [];
    }

    private sealed class EventsBuilder(long transactionId)
    {
        public List<SessionCounted> Sessions { get; } = [];

        public List<PerfCounted> Perfs { get; } = [];

        public List<DropoutCounted> Dropouts { get; } = [];

        public List<PlayerReturned> Returns { get; } = [];

        public List<Guid> ResolvedDropouts { get; } = [];

        public PortalDayEvents Build() => new(transactionId, Sessions, Perfs, Dropouts, Returns, ResolvedDropouts);
    }
}

/// <summary>The telemetry store could not commit: the request may be retried.</summary>
public sealed class TelemetryUnavailableException(Exception inner) : UnavailableException("telemetry storage is unavailable: retry", inner);
