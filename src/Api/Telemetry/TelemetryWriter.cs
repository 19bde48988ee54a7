using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;
using PlayMusic.Analytics;
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
    long Score, long DurationMs, bool Completed, DateTime EndedAt);

/// <summary>
/// Group commit for raw telemetry: requests queue their rows on a channel; each of
/// <see cref="Writers"/> loops takes everything queued (up to <see cref="MaxBatch"/>) and stores it
/// with one multi-statement round trip, which PostgreSQL runs as one implicit transaction. One loop:
/// then each batch sees every earlier one, which the replay/first-session flags need (concurrent
/// batches could not see each other's sessions; the counters' recount would repair that only later). Each request's task completes only after that
/// commit, so a 2xx always means the row is durable. The committed events then go to the counter
/// grains on the telemetry stream.
/// </summary>
public sealed class TelemetryWriter(
    NpgsqlDataSource dataSource,
    IClusterClient cluster,
    IMeterFactory meters,
    ILogger<TelemetryWriter> logger) : BackgroundService
{
    public const int MaxBatch = 1000;
    public const int Writers = 1;

    private const string TransactionSql = "SELECT pg_current_xact_id()::text::bigint";

    private const string SessionsSql = """
        WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                 $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
                AS t(session_id, load_id, player_id, display_name, game_id, mode, portal,
                     referrer_host, country, device_tier, engine_version, started_at)),
        inserted AS (
            INSERT INTO telemetry_sessions (session_id, load_id, player_id, display_name, game_id, mode, portal,
                                            referrer_host, country, device_tier, engine_version, started_at)
            SELECT * FROM input)
        -- The main query does not see the rows inserted above (one snapshot), hence the unions with input.
        SELECT i.session_id,
            EXISTS (SELECT 1 FROM telemetry_sessions p WHERE p.player_id = i.player_id AND p.game_id = i.game_id
                    AND (p.started_at, p.session_id) < (i.started_at, i.session_id))
            OR EXISTS (SELECT 1 FROM input p WHERE p.player_id = i.player_id AND p.game_id = i.game_id
                    AND (p.started_at, p.session_id) < (i.started_at, i.session_id)),
            f.session_id, f.portal, f.started_at, f.country, f.device_tier
        FROM input i CROSS JOIN LATERAL (
            SELECT * FROM (
                (SELECT session_id, portal, started_at, country, device_tier FROM telemetry_sessions
                 WHERE player_id = i.player_id ORDER BY started_at, session_id LIMIT 1)
                UNION ALL
                SELECT session_id, portal, started_at, country, device_tier FROM input WHERE player_id = i.player_id) x
            ORDER BY x.started_at, x.session_id LIMIT 1) f
        """;

    private const string PerfSql = """
        WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::timestamptz[])
                AS t(session_id, download_ms, config_ms, assets_ms, audio_ms, gateway_ms, received_at)),
        inserted AS (
            INSERT INTO telemetry_perf (session_id, download_ms, config_ms, assets_ms, audio_ms, gateway_ms, received_at)
            SELECT i.* FROM input i WHERE EXISTS (SELECT 1 FROM telemetry_sessions s WHERE s.session_id = i.session_id)
            ON CONFLICT (session_id) DO NOTHING
            RETURNING session_id)
        SELECT i.session_id, s.session_id IS NOT NULL, n.session_id IS NOT NULL, s.portal, s.started_at, s.country, s.device_tier
        FROM input i
        LEFT JOIN telemetry_sessions s ON s.session_id = i.session_id
        LEFT JOIN inserted n ON n.session_id = i.session_id
        """;

    private const string EndsSql = """
        WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::boolean[], $5::timestamptz[])
                AS t(session_id, score, duration_ms, completed, ended_at)),
        inserted AS (
            INSERT INTO telemetry_session_ends (session_id, score, duration_ms, completed, ended_at)
            SELECT i.* FROM input i WHERE EXISTS (SELECT 1 FROM telemetry_sessions s WHERE s.session_id = i.session_id)
            ON CONFLICT (session_id) DO NOTHING
            RETURNING *)
        SELECT i.session_id, s.player_id, s.display_name, s.game_id, s.mode, s.portal,
            coalesce(n.score, e.score, i.score), coalesce(n.duration_ms, e.duration_ms, i.duration_ms),
            coalesce(n.completed, e.completed, i.completed), coalesce(n.ended_at, e.ended_at, i.ended_at)
        FROM input i
        JOIN telemetry_sessions s ON s.session_id = i.session_id
        LEFT JOIN inserted n ON n.session_id = i.session_id
        LEFT JOIN telemetry_session_ends e ON e.session_id = i.session_id
        """;

    private const string DropoutsSql = """
        WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::timestamptz[])
                WITH ORDINALITY AS t(load_id, game_id, portal, referrer_host, stage, elapsed_ms, country, device_tier, received_at, ord)),
        inserted AS (
            INSERT INTO telemetry_dropouts (load_id, game_id, portal, referrer_host, stage, elapsed_ms, country, device_tier, received_at)
            SELECT load_id, game_id, portal, referrer_host, stage, elapsed_ms, country, device_tier, received_at FROM input ORDER BY ord)
        SELECT i.ord,
            NOT EXISTS (SELECT 1 FROM telemetry_dropouts d WHERE d.load_id = i.load_id)
            AND NOT EXISTS (SELECT 1 FROM input j WHERE j.load_id = i.load_id AND j.ord < i.ord),
            EXISTS (SELECT 1 FROM telemetry_sessions s WHERE s.load_id = i.load_id)
        FROM input i
        """;

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(10 * MaxBatch)
    {
        SingleReader = false,
    });

    private readonly Counter<long> _ingested = meters.Create(TelemetryExtensions.PlayMusicMeter)
        .CreateCounter<long>("playmusic.analytics.events_ingested", description: "Telemetry events durably stored");

    private readonly Histogram<int> _batchSize = meters.Create(TelemetryExtensions.PlayMusicMeter)
        .CreateHistogram<int>("playmusic.analytics.batch_size", description: "Telemetry rows per group commit");

    public Task StoreSessionAsync(SessionRow row) => EnqueueAsync<object?>(row);

    public Task<PerfOutcome> StorePerfAsync(PerfRow row) => EnqueueAsync<PerfOutcome>(row);

    /// <summary>Null when the session does not exist.</summary>
    public Task<StoredEnd?> StoreEndAsync(EndRow row) => EnqueueAsync<StoredEnd?>(row);

    public Task StoreDropoutAsync(DropoutRow row) => EnqueueAsync<object?>(row);

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
        Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => Task.Run(WriteLoopAsync, CancellationToken.None)));

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        // Requests still queued at shutdown are written too: the channel is drained, not dropped.
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            Dictionary<string, EventsBuilder> events;
            try
            {
                events = await WriteAsync(batch);
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Telemetry batch of {Count} rows failed", batch.Count);
                batch.ForEach(p => p.Done.TrySetException(new TelemetryUnavailableException(ex)));
                batch.Clear();
                continue;
            }

            _batchSize.Record(batch.Count);
            _ingested.Add(batch.Count);
            batch.Clear();
            await PublishAsync(events);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    /// <summary>Stores the batch and completes every request in it; returns the events to publish.</summary>
    private async Task<Dictionary<string, EventsBuilder>> WriteAsync(List<Pending> batch)
    {
        var sessions = batch.Where(p => p.Row is SessionRow).ToList();
        var dropouts = batch.Where(p => p.Row is DropoutRow).ToList();
        // Repeats of one session inside a batch are answered from the first one's outcome.
        var perfs = batch.Where(p => p.Row is PerfRow).GroupBy(p => ((PerfRow)p.Row).SessionId).ToList();
        var ends = batch.Where(p => p.Row is EndRow).GroupBy(p => ((EndRow)p.Row).SessionId).ToList();

        await using var command = dataSource.CreateBatch();
        command.BatchCommands.Add(new NpgsqlBatchCommand(TransactionSql));
        if (sessions.Count > 0)
        {
            var rows = sessions.Select(p => (SessionRow)p.Row).ToList();
            command.BatchCommands.Add(Statement(SessionsSql,
                Array(rows, r => r.SessionId, NpgsqlDbType.Uuid), Array(rows, r => r.LoadId, NpgsqlDbType.Uuid),
                Array(rows, r => r.PlayerId, NpgsqlDbType.Text), Array(rows, r => r.DisplayName, NpgsqlDbType.Text),
                Array(rows, r => r.GameId, NpgsqlDbType.Text), Array(rows, r => r.Mode, NpgsqlDbType.Text),
                Array(rows, r => r.Portal, NpgsqlDbType.Text), Array(rows, r => r.ReferrerHost, NpgsqlDbType.Text),
                Array(rows, r => r.Country, NpgsqlDbType.Text), Array(rows, r => r.DeviceTier, NpgsqlDbType.Text),
                Array(rows, r => r.EngineVersion, NpgsqlDbType.Text), Array(rows, r => r.StartedAt, NpgsqlDbType.TimestampTz)));
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
        }

        if (dropouts.Count > 0)
        {
            var rows = dropouts.Select(p => (DropoutRow)p.Row).ToList();
            command.BatchCommands.Add(Statement(DropoutsSql,
                Array(rows, r => r.LoadId, NpgsqlDbType.Uuid), Array(rows, r => r.GameId, NpgsqlDbType.Text),
                Array(rows, r => r.Portal, NpgsqlDbType.Text), Array(rows, r => r.ReferrerHost, NpgsqlDbType.Text),
                Array(rows, r => r.Stage, NpgsqlDbType.Text), Array(rows, r => r.ElapsedMs, NpgsqlDbType.Integer),
                Array(rows, r => r.Country, NpgsqlDbType.Text), Array(rows, r => r.DeviceTier, NpgsqlDbType.Text),
                Array(rows, r => r.ReceivedAt, NpgsqlDbType.TimestampTz)));
        }

        // Results are collected first and handed out only after the whole batch has committed
        // (the implicit transaction commits when the last statement's results are read).
        var completions = new List<Action>();
        var events = new Dictionary<string, EventsBuilder>();
        EventsBuilder EventsFor(string portal, DateTime at) =>
            events.TryGetValue(TelemetryStreams.Key(portal, TelemetryStreams.Day(at)), out var e) ? e
                : events[TelemetryStreams.Key(portal, TelemetryStreams.Day(at))] = new EventsBuilder();

        long transactionId;
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            transactionId = reader.GetInt64(0);

            if (sessions.Count > 0)
            {
                await reader.NextResultAsync();
                var bySession = sessions.ToDictionary(p => ((SessionRow)p.Row).SessionId);
                while (await reader.ReadAsync())
                {
                    var pending = bySession[reader.GetGuid(0)];
                    var row = (SessionRow)pending.Row;
                    var isFirst = reader.GetGuid(2) == row.SessionId;
                    EventsFor(row.Portal, row.StartedAt).Sessions.Add(new SessionCounted(
                        row.LoadId, row.PlayerId, Dimensions.Of(row.Country, row.DeviceTier), reader.GetBoolean(1), isFirst));
                    var firstAt = reader.GetDateTime(4);
                    var dayOffset = TelemetryStreams.Day(row.StartedAt).DayNumber - TelemetryStreams.Day(firstAt).DayNumber;
                    if (!isFirst && PortalDayCounts.RetentionDays.Contains(dayOffset))
                    {
                        EventsFor(reader.GetString(3), firstAt).Returns.Add(new PlayerReturned(
                            row.PlayerId, Dimensions.Of(NullableString(reader, 5), NullableString(reader, 6)), dayOffset));
                    }

                    completions.Add(() => pending.Done.TrySetResult(null));
                }
            }

            if (perfs.Count > 0)
            {
                await reader.NextResultAsync();
                var bySession = perfs.ToDictionary(g => g.Key);
                while (await reader.ReadAsync())
                {
                    var group = bySession[reader.GetGuid(0)];
                    var outcome = !reader.GetBoolean(1) ? PerfOutcome.UnknownSession
                        : reader.GetBoolean(2) ? PerfOutcome.Stored : PerfOutcome.AlreadyReported;
                    if (outcome == PerfOutcome.Stored)
                    {
                        var row = (PerfRow)group.First().Row;
                        EventsFor(reader.GetString(3), reader.GetDateTime(4)).Perfs.Add(new PerfCounted(
                            Dimensions.Of(NullableString(reader, 5), NullableString(reader, 6)), row.DownloadMs, row.ConfigMs, row.AssetsMs, row.AudioMs));
                    }

                    var repeat = outcome == PerfOutcome.UnknownSession ? outcome : PerfOutcome.AlreadyReported;
                    completions.Add(() =>
                    {
                        group.First().Done.TrySetResult(outcome);
                        foreach (var later in group.Skip(1))
                        {
                            later.Done.TrySetResult(repeat);
                        }
                    });
                }
            }

            if (ends.Count > 0)
            {
                await reader.NextResultAsync();
                var found = new Dictionary<Guid, StoredEnd>();
                while (await reader.ReadAsync())
                {
                    var end = new StoredEnd(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                        reader.GetString(4), reader.GetString(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetBoolean(8), reader.GetDateTime(9));
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
                    var pending = dropouts[(int)reader.GetInt64(0) - 1];
                    var row = (DropoutRow)pending.Row;
                    if (reader.GetBoolean(1) && !reader.GetBoolean(2))
                    {
                        EventsFor(row.Portal, row.ReceivedAt).Dropouts.Add(new DropoutCounted(row.LoadId, Dimensions.Of(row.Country, row.DeviceTier)));
                    }

                    completions.Add(() => pending.Done.TrySetResult(null));
                }
            }

            // Reads through ReadyForQuery: an error at commit surfaces here, before anyone is answered.
            while (await reader.NextResultAsync())
            {
            }
        }

        completions.ForEach(complete => complete());
        foreach (var builder in events.Values)
        {
            builder.TransactionId = transactionId;
        }

        return events;
    }

    /// <summary>
    /// Best effort: a lost message only delays a counter until its next recount from the raw
    /// tables (activation or the periodic reconcile), never loses an event.
    /// </summary>
    private async Task PublishAsync(Dictionary<string, EventsBuilder> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        try
        {
            var provider = cluster.GetStreamProvider(TelemetryStreams.ProviderName);
            await Task.WhenAll(events.Select(e =>
                provider.GetStream<PortalDayEvents>(StreamId.Create(TelemetryStreams.Namespace, e.Key)).OnNextAsync(e.Value.Build())));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Publishing committed telemetry to the counters failed; they catch up on their next recount");
        }
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
        public object Row { get; } = row;

        public TaskCompletionSource<object?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class EventsBuilder
    {
        public long TransactionId { get; set; }

        public List<SessionCounted> Sessions { get; } = [];

        public List<PerfCounted> Perfs { get; } = [];

        public List<DropoutCounted> Dropouts { get; } = [];

        public List<PlayerReturned> Returns { get; } = [];

        public PortalDayEvents Build() => new(TransactionId, Sessions, Perfs, Dropouts, Returns);
    }
}

/// <summary>The telemetry store could not commit: the request may be retried.</summary>
public sealed class TelemetryUnavailableException(Exception inner) : Exception("telemetry storage is unavailable", inner);
