using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Orleans.Streams;
using Orleans.Streams.Core;
using PlayMusic.Analytics;

namespace PlayMusic.Grains.Analytics;

/// <summary>
/// Counters of one portal × UTC day. They are derived data and have no stored state: the first
/// read after activation (also after a crash) and a periodic timer recount them from the raw
/// tables inside one snapshot, and the telemetry stream adds what committed after that snapshot.
/// A stream batch whose transaction the snapshot already shows is skipped, so nothing is counted
/// twice. Activation itself does not recount: after a restart the ingest activates every counter
/// of the day at once, and their recounts took the database from the ingest for a minute.
/// </summary>
[ImplicitStreamSubscription(TelemetryStreams.Namespace)]
public sealed class PortalDayCounterGrain(NpgsqlDataSource dataSource, CounterMetrics metrics, ILogger<PortalDayCounterGrain> logger)
    : Grain, IPortalDayCounterGrain, IStreamSubscriptionObserver, IAsyncObserver<PortalDayEventBatch>
{
    /// <summary>Repairs what a lost stream message (memory streams drop them on a silo crash) left out.</summary>
    private static readonly TimeSpan ReconcileInterval = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Recounts running at once on this silo. A recount costs PostgreSQL a scan of the day's sessions
    /// and index probes per distinct player (~1.4 s of CPU for 129,000 sessions), and one dashboard
    /// read after a restart recounts every portal × day it covers: a dozen in parallel once left the
    /// ingest's commits a sliver of the database's CPU (from thousands of events/s to ~160/s).
    /// </summary>
    private static readonly SemaphoreSlim ConcurrentRecounts = new(2);

    private static readonly string[] RecountSql =
    [
        "SELECT pg_current_snapshot()::text",
        // Sessions of this portal × day with their perf report, replay and first-session flags. A session
        // replays when it is not its player's first of that game, and is "first" when it is its player's
        // first anywhere: one index probe per distinct player and per player × game, not two per session.
        """
        WITH day AS (
            SELECT session_id, load_id, player_id, game_id, country, device_tier FROM telemetry_sessions
            WHERE portal = $1 AND started_at >= $2 AND started_at < $3),
        player_first AS (
            SELECT p.player_id, f.session_id FROM (SELECT DISTINCT player_id FROM day) p
            CROSS JOIN LATERAL (SELECT session_id FROM telemetry_sessions WHERE player_id = p.player_id
                                ORDER BY started_at, session_id LIMIT 1) f),
        game_first AS (
            SELECT g.player_id, g.game_id, f.session_id FROM (SELECT DISTINCT player_id, game_id FROM day) g
            CROSS JOIN LATERAL (SELECT session_id FROM telemetry_sessions WHERE player_id = g.player_id AND game_id = g.game_id
                                ORDER BY started_at, session_id LIMIT 1) f)
        SELECT d.load_id, d.player_id, d.country, d.device_tier, d.session_id <> g.session_id, d.session_id = p.session_id,
            f.download_ms, f.config_ms, f.assets_ms, f.audio_ms
        FROM day d
        JOIN player_first p ON p.player_id = d.player_id
        JOIN game_first g ON g.player_id = d.player_id AND g.game_id = d.game_id
        LEFT JOIN telemetry_perf f ON f.session_id = d.session_id
        """,
        // Players first seen here who came back N days later (anywhere). UTC days are 24 hours; '1 day' would
        // follow the session's time zone (23 or 25 hours across a clock change). LATERAL … LIMIT 1 keeps the
        // look-ahead an index probe per cohort player: as a semi-join PostgreSQL hashed the whole
        // sessions table (all days) on every recount.
        """
        SELECT c.player_id, c.country, c.device_tier, o.day_offset
        FROM (SELECT DISTINCT player_id FROM telemetry_sessions WHERE portal = $1 AND started_at >= $2 AND started_at < $3) p
        CROSS JOIN LATERAL (SELECT player_id, portal, started_at, country, device_tier FROM telemetry_sessions
                            WHERE player_id = p.player_id ORDER BY started_at, session_id LIMIT 1) c
        CROSS JOIN unnest($4::int[]) AS o(day_offset)
        CROSS JOIN LATERAL (SELECT 1 FROM telemetry_sessions r WHERE r.player_id = c.player_id
                            AND r.started_at >= $2 + o.day_offset * interval '24 hours'
                            AND r.started_at < $3 + o.day_offset * interval '24 hours' LIMIT 1) r
        WHERE c.portal = $1 AND c.started_at >= $2 AND c.started_at < $3
        """,
        // A load's first beacon counts here when that load has no session.
        """
        SELECT d.load_id, d.country, d.device_tier FROM telemetry_dropouts d
        WHERE d.portal = $1 AND d.received_at >= $2 AND d.received_at < $3
          AND NOT EXISTS (SELECT 1 FROM telemetry_dropouts e WHERE e.load_id = d.load_id AND e.id < d.id)
          AND NOT EXISTS (SELECT 1 FROM telemetry_sessions s WHERE s.load_id = d.load_id)
        """,
    ];

    /// <summary>
    /// Stream batches delivered while a recount runs (the first read's recount interleaves with them): counted
    /// once it is done, against its snapshot, instead of into cells it is about to replace or not at all.
    /// </summary>
    private readonly List<PortalDayEventBatch> _arrivedDuringRecount = [];

    private Dictionary<Dimensions, Cell> _cells = [];

    /// <summary>
    /// False until the first recount. Until then the stream is ignored: what it delivers has
    /// committed, so that recount's snapshot shows it.
    /// </summary>
    private bool _recounted;
    private Task? _recount;
    private DatabaseSnapshot _snapshot = DatabaseSnapshot.Empty;
    private string _portal = "";
    private DateTime _dayStart;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (portal, day) = TelemetryStreams.ParseKey(this.GetPrimaryKeyString());
        _portal = portal;
        _dayStart = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
        // Counters activated together would otherwise all reconcile in the same second, every time.
        var firstReconcile = ReconcileInterval * (0.5 + Random.Shared.NextDouble());
        this.RegisterGrainTimer(ReconcileAsync, new GrainTimerCreationOptions(firstReconcile, ReconcileInterval));
        return Task.CompletedTask;
    }

    public Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory) =>
        handleFactory.Create<PortalDayEventBatch>().ResumeAsync(this);

    public Task OnNextAsync(PortalDayEventBatch item, StreamSequenceToken? token = null)
    {
        if (_recount is { IsCompleted: false })
        {
            _arrivedDuringRecount.Add(item);
        }
        else if (_recounted)
        {
            CountNew(item);
        }

        return Task.CompletedTask;
    }

    /// <summary>The batch's transactions that the last recount's snapshot does not show.</summary>
    private void CountNew(PortalDayEventBatch item)
    {
        foreach (var transaction in item.Transactions.Where(t => !_snapshot.Shows(t.TransactionId)))
        {
            Count(transaction);
        }
    }

    private void Count(PortalDayEvents item)
    {
        foreach (var session in item.Sessions)
        {
            AddSession(session.Dimensions, session.LoadId, session.PlayerId, session.IsReplay, session.IsFirstSession);
        }

        foreach (var perf in item.Perfs)
        {
            CellOf(perf.Dimensions).AddLoad(perf.DownloadMs, perf.ConfigMs, perf.AssetsMs, perf.AudioMs);
        }

        foreach (var dropout in item.Dropouts)
        {
            CellOf(dropout.Dimensions).Dropouts.Add(dropout.LoadId);
        }

        foreach (var returned in item.Returns)
        {
            CellOf(returned.CohortDimensions).AddReturn(returned.PlayerId, returned.DayOffset);
        }

        foreach (var loadId in item.ResolvedDropouts)
        {
            RemoveDropout(loadId);
        }
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex)
    {
        logger.LogWarning(ex, "Telemetry stream error for {Key}", this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public async Task<PortalDayCounts> GetAsync(CounterFilter filter)
    {
        if (!_recounted)
        {
            await RecountOnceAsync(CancellationToken.None);
        }

        var cells = _cells.Where(c => c.Key.Matches(filter)).Select(c => c.Value).ToList();

        var players = new HashSet<string>();
        var replayers = new HashSet<string>();
        var load = LoadHistogram.Metrics.Select(_ => new LoadHistogram()).ToArray();
        var returned = new int[PortalDayCounts.RetentionDays.Count];
        long sessions = 0, dropouts = 0;
        var cohort = 0;
        foreach (var cell in cells)
        {
            sessions += cell.Sessions;
            dropouts += cell.Dropouts.Count;
            players.UnionWith(cell.Players);
            replayers.UnionWith(cell.Replayers);
            cohort += cell.Cohort.Count;
            for (var i = 0; i < load.Length; i++)
            {
                load[i].Merge(cell.Load[i]);
            }

            for (var i = 0; i < returned.Length; i++)
            {
                returned[i] += cell.Returned[i].Count;
            }
        }

        return new PortalDayCounts(sessions, dropouts, [.. players], [.. replayers], load, cohort, returned);
    }

    /// <summary>A counter nobody has read ignores the stream, and its first read recounts anyway: nothing to repair.</summary>
    private Task ReconcileAsync(CancellationToken cancellationToken) => _recounted ? RecountOnceAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>
    /// Reads interleave with recounts (they answer from the cells of the last one, which a recount
    /// replaces only when done), so the first read and the timer can ask at once: they share one recount.
    /// </summary>
    private Task RecountOnceAsync(CancellationToken cancellationToken)
    {
        if (_recount is not { IsCompleted: false })
        {
            _recount = RecountAsync(cancellationToken);
        }

        return _recount;
    }

    private async Task RecountAsync(CancellationToken cancellationToken)
    {
        await ConcurrentRecounts.WaitAsync(cancellationToken);
        try
        {
            var started = Stopwatch.GetTimestamp();
            await RecountFromDatabaseAsync(cancellationToken);
            metrics.RecountDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        finally
        {
            ConcurrentRecounts.Release();
            // Against the new snapshot, or the previous one if this recount failed; nothing before the first recount.
            if (_recounted)
            {
                _arrivedDuringRecount.ForEach(CountNew);
            }

            _arrivedDuringRecount.Clear();
        }
    }

    private async Task RecountFromDatabaseAsync(CancellationToken cancellationToken)
    {
        var cells = new Dictionary<Dimensions, Cell>();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        // No command timeout: a large day may take longer than Npgsql's 30 s, and a recount that always timed out would never finish.
        await using var batch = new NpgsqlBatch(connection, transaction) { Timeout = 0 };
        foreach (var sql in RecountSql)
        {
            var command = new NpgsqlBatchCommand(sql);
            if (sql.Contains("$3", StringComparison.Ordinal))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = _portal });
                command.Parameters.Add(new NpgsqlParameter { Value = _dayStart, NpgsqlDbType = NpgsqlDbType.TimestampTz });
                command.Parameters.Add(new NpgsqlParameter { Value = _dayStart.AddDays(1), NpgsqlDbType = NpgsqlDbType.TimestampTz });
            }

            if (sql.Contains("$4", StringComparison.Ordinal))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = PortalDayCounts.RetentionDays.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
            }

            batch.BatchCommands.Add(command);
        }

        DatabaseSnapshot snapshot;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            snapshot = DatabaseSnapshot.Parse(reader.GetString(0));

            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var dimensions = DimensionsAt(reader, 2);
                CellIn(cells, dimensions).AddSession(reader.GetGuid(0), reader.GetString(1), reader.GetBoolean(4), reader.GetBoolean(5));
                if (!reader.IsDBNull(6))
                {
                    CellIn(cells, dimensions).AddLoad(reader.GetInt32(6), reader.GetInt32(7), reader.GetInt32(8), reader.GetInt32(9));
                }
            }

            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                CellIn(cells, DimensionsAt(reader, 1)).AddReturn(reader.GetString(0), reader.GetInt32(3));
            }

            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                CellIn(cells, DimensionsAt(reader, 1)).Dropouts.Add(reader.GetGuid(0));
            }
        }

        await transaction.CommitAsync(cancellationToken);
        // Together: cells of one snapshot are skipped by that snapshot's transactions only.
        (_cells, _snapshot) = (cells, snapshot);
        _recounted = true;
    }

    private void AddSession(Dimensions dimensions, Guid loadId, string playerId, bool isReplay, bool isFirst)
    {
        CellOf(dimensions).AddSession(loadId, playerId, isReplay, isFirst);
        RemoveDropout(loadId);
    }

    private void RemoveDropout(Guid loadId)
    {
        foreach (var cell in _cells.Values)
        {
            cell.Dropouts.Remove(loadId);
        }
    }

    private Cell CellOf(Dimensions dimensions) => CellIn(_cells, dimensions);

    private static Cell CellIn(Dictionary<Dimensions, Cell> cells, Dimensions dimensions)
    {
        if (!cells.TryGetValue(dimensions, out var cell))
        {
            cells[dimensions] = cell = new Cell();
        }

        return cell;
    }

    private static Dimensions DimensionsAt(NpgsqlDataReader reader, int ordinal) =>
        Dimensions.Of(reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal), reader.IsDBNull(ordinal + 1) ? null : reader.GetString(ordinal + 1));

    private sealed class Cell
    {
        public long Sessions { get; private set; }

        public HashSet<string> Players { get; } = [];

        public HashSet<string> Replayers { get; } = [];

        public LoadHistogram[] Load { get; } = LoadHistogram.Metrics.Select(_ => new LoadHistogram()).ToArray();

        /// <summary>Loads whose first beacon was stored here and that had no session when last checked.</summary>
        public HashSet<Guid> Dropouts { get; } = [];

        public HashSet<string> Cohort { get; } = [];

        public HashSet<string>[] Returned { get; } = PortalDayCounts.RetentionDays.Select(_ => new HashSet<string>()).ToArray();

        public void AddSession(Guid loadId, string playerId, bool isReplay, bool isFirst)
        {
            Sessions++;
            Players.Add(playerId);
            Dropouts.Remove(loadId);
            if (isReplay)
            {
                Replayers.Add(playerId);
            }

            if (isFirst)
            {
                Cohort.Add(playerId);
            }
        }

        public void AddLoad(int downloadMs, int configMs, int assetsMs, int audioMs)
        {
            Load[0].Add(downloadMs);
            Load[1].Add(configMs);
            Load[2].Add(assetsMs);
            Load[3].Add(audioMs);
            Load[4].Add((long)downloadMs + configMs + assetsMs + audioMs);
        }

        public void AddReturn(string playerId, int dayOffset)
        {
            for (var i = 0; i < Returned.Length; i++)
            {
                if (PortalDayCounts.RetentionDays[i] == dayOffset)
                {
                    Returned[i].Add(playerId);
                }
            }
        }
    }
}
