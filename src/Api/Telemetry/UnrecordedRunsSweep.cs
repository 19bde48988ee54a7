using Npgsql;
using PlayMusic.Competitions;

namespace PlayMusic.Api.Telemetry;

/// <summary>
/// Hands over the scores of completed session ends that never reached the leaderboards. An end is durable before
/// its score is handed over, so a crash between the two, or a <c>503 SCORE_NOT_RECORDED</c> the engine never sent
/// again (the tab was closed), would otherwise leave the run off the boards and tournaments for good. A run is
/// recorded once it has its <c>competition_runs</c> row (written last, whatever the verdict); ends that settled
/// without one are sent again, once a minute, by one node at a time. Recording is idempotent per run id.
/// </summary>
public sealed class UnrecordedRunsSweep(
    NpgsqlDataSource dataSource, IGrainFactory grains, TimeProvider time, ILogger<UnrecordedRunsSweep> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>How long an end's own request has to hand its score over before the sweep steps in.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMinutes(2);

    /// <summary>Older ends are left alone: every tournament they could count for has closed by then.</summary>
    public static readonly TimeSpan Lookback = TimeSpan.FromDays(1);

    private const int MaxRunsPerSweep = 500;

    /// <summary>pg_try_advisory_lock key: API nodes sweep one at a time.</summary>
    private const long LockKey = 0x706d_7275_6e73; // "pmruns"

    private const string UnrecordedSql = $"""
        {StoredEnd.SelectSql}
        WHERE e.completed AND e.ended_at >= $1 AND e.ended_at < $2
          AND NOT EXISTS (SELECT 1 FROM competition_runs r WHERE r.run_id = e.session_id::text)
        ORDER BY e.ended_at
        LIMIT $3
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SweepOnceAsync();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Sweeping unrecorded runs failed; the next sweep tries again");
            }
        }
    }

    /// <summary>One sweep; the number of runs handed over (0 when another node holds the sweep).</summary>
    public async Task<int> SweepOnceAsync()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        // A transaction-level lock: released at the end of the transaction whatever happens, even on a pooled
        // connection that is not reset when it goes back to the pool.
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({LockKey})", connection, transaction))
        {
            if (!(bool)(await lockCommand.ExecuteScalarAsync())!)
            {
                return 0;
            }
        }

        var now = time.GetUtcNow().UtcDateTime;
        var ends = new List<StoredEnd>();
        await using (var query = new NpgsqlCommand(UnrecordedSql, connection, transaction) { Parameters = { new() { Value = now - Lookback }, new() { Value = now - Settle }, new() { Value = MaxRunsPerSweep } } })
        await using (var reader = await query.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                ends.Add(StoredEnd.Read(reader));
            }
        }

        var handedOver = 0;
        foreach (var end in ends)
        {
            try
            {
                await grains.GetGrain<IGameScoresGrain>(end.GameId).RecordAsync(end.ToRun());
                handedOver++;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "The score of session {SessionId} is still not recorded; the next sweep tries again", end.SessionId);
            }
        }

        if (handedOver > 0)
        {
            logger.LogInformation("Handed over {Count} completed runs whose scores had not reached the leaderboards", handedOver);
        }

        await transaction.CommitAsync();
        return handedOver;
    }
}
