using Npgsql;
using Orleans.Concurrency;
using PlayMusic.Competitions;
using PlayMusic.Modes;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// Routes a finished run to the game's global board, its portal board and the tournaments the
/// player joined. A stateless worker: it holds nothing but a briefly cached mode catalog, so many
/// runs of one game are checked in parallel and ordering is left to the boards. Idempotency rests
/// on <c>competition_runs</c> (written last, after every board has the score) and on boards and
/// tournaments being idempotent themselves, so a retry after a crash half-way completes the job.
/// </summary>
[StatelessWorker]
public sealed class GameScoresGrain(NpgsqlDataSource dataSource, TimeProvider clock, LeaderboardSubmitter boards) : Grain, IGameScoresGrain
{
    public const int MaxRunIdLength = 128;
    public const long MaxDurationMs = 24 * 60 * 60 * 1000L;
    public const string UnknownPortal = "unknown";
    public const string DefaultDisplayName = "Player";

    /// <summary>Runs that ended this long before a tournament's end are still looked at, to report them as outside the window.</summary>
    private const long RecentlyEndedMs = 24 * 60 * 60 * 1000L;

    private static readonly TimeSpan CatalogMaxAge = TimeSpan.FromSeconds(1);

    private ModeCatalog? _catalog;
    private DateTimeOffset _catalogFetchedAt;

    public async Task<RunRecordResult> RecordAsync(CompletedRun run)
    {
        if (string.IsNullOrEmpty(run.RunId) || run.RunId.Length > MaxRunIdLength)
        {
            return new RunRecordResult(RunVerdict.Rejected, $"runId must be 1 to {MaxRunIdLength} characters", []);
        }

        var (previous, tournamentIds) = await LookUpAsync(run);
        if (previous is not null)
        {
            return new RunRecordResult(RunVerdict.Duplicate, $"run {run.RunId} was already recorded ({previous})", []);
        }

        if (await RejectionOfAsync(run) is { } reason)
        {
            await SaveRunAsync(run, "rejected");
            return new RunRecordResult(RunVerdict.Rejected, reason, []);
        }

        run = run with
        {
            Portal = string.IsNullOrEmpty(run.Portal) ? UnknownPortal : run.Portal,
            DisplayName = string.IsNullOrEmpty(run.DisplayName) ? DefaultDisplayName : run.DisplayName,
        };
        var submission = new ScoreSubmission(run.PlayerId, run.DisplayName, run.Score, run.EndedAt);
        await Task.WhenAll(
            boards.SubmitAsync(BoardKeys.Global(run.GameId), submission),
            boards.SubmitAsync(BoardKeys.Portal(run.GameId, run.Portal), submission));

        var tournaments = await Task.WhenAll(tournamentIds.Select(id => GrainFactory.GetGrain<ITournamentGrain>(id).RecordRunAsync(run)));

        await SaveRunAsync(run, "accepted");
        return new RunRecordResult(RunVerdict.Accepted, null, tournaments);
    }

    private async Task<string?> RejectionOfAsync(CompletedRun run)
    {
        if (run.GameId != this.GetPrimaryKeyString())
        {
            return $"run is for game {run.GameId}, not {this.GetPrimaryKeyString()}";
        }

        if (string.IsNullOrEmpty(run.PlayerId))
        {
            return "playerId is required";
        }

        if (run.Score < 0 || run.DurationMs is < 0 or > MaxDurationMs || run.EndedAt <= 0)
        {
            return "score, durationMs or endedAt out of range";
        }

        var mode = (await CatalogAsync()).Find(run.Mode);
        if (mode is null)
        {
            return $"mode {run.Mode} is not in the catalog";
        }

        // The same rule as live play: the cap times the elapsed time, plus one second's worth.
        var cap = (Int128)mode.MaxScorePerSecond * run.DurationMs / 1000 + mode.MaxScorePerSecond;
        return run.Score > cap ? $"score {run.Score} exceeds the {mode.Id} cap of {cap} for {run.DurationMs} ms" : null;
    }

    private async Task<ModeCatalog> CatalogAsync()
    {
        var now = clock.GetUtcNow();
        if (_catalog is null || now - _catalogFetchedAt > CatalogMaxAge)
        {
            _catalog = await GrainFactory.GetGrain<IModeCatalogGrain>(IModeCatalogGrain.Key).GetAsync();
            _catalogFetchedAt = now;
        }

        return _catalog;
    }

    /// <summary>
    /// One round trip for what a run needs to know: its earlier verdict (a retry), and the joined,
    /// not cancelled tournaments of this game that had started by the run's end and had not long ended.
    /// Prepared, as is the run's record: a finished run otherwise cost PostgreSQL more to parse and
    /// plan these statements than to run them.
    /// </summary>
    private async Task<(string? Verdict, List<string> TournamentIds)> LookUpAsync(CompletedRun run)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("SELECT verdict FROM competition_runs WHERE run_id = $1")
                {
                    Parameters = { new NpgsqlParameter<string> { TypedValue = run.RunId } },
                },
                new NpgsqlBatchCommand("""
                    SELECT t.id FROM tournament_entrants e JOIN tournaments t ON t.id = e.tournament_id
                    WHERE e.player_id = $1 AND t.game_id = $2 AND t.status <> 'cancelled'
                      AND t.starts_at <= $3 AND t.ends_at > $3 - $4
                    """)
                {
                    Parameters =
                    {
                        new NpgsqlParameter<string> { TypedValue = run.PlayerId },
                        new NpgsqlParameter<string> { TypedValue = run.GameId },
                        new NpgsqlParameter<long> { TypedValue = run.EndedAt },
                        new NpgsqlParameter<long> { TypedValue = RecentlyEndedMs },
                    },
                },
            },
        };
        await batch.PrepareAsync();
        await using var reader = await batch.ExecuteReaderAsync();
        var verdict = await reader.ReadAsync() ? reader.GetString(0) : null;
        await reader.NextResultAsync();
        var tournamentIds = new List<string>();
        while (await reader.ReadAsync())
        {
            tournamentIds.Add(reader.GetString(0));
        }

        return (verdict, tournamentIds);
    }

    private async Task SaveRunAsync(CompletedRun run, string verdict)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("""
            INSERT INTO competition_runs (run_id, game_id, player_id, score, ended_at, verdict)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id) DO NOTHING
            """, connection)
        {
            Parameters =
            {
                new NpgsqlParameter<string> { TypedValue = run.RunId },
                new NpgsqlParameter<string> { TypedValue = run.GameId },
                new NpgsqlParameter<string> { TypedValue = run.PlayerId },
                new NpgsqlParameter<long> { TypedValue = run.Score },
                new NpgsqlParameter<long> { TypedValue = run.EndedAt },
                new NpgsqlParameter<string> { TypedValue = verdict },
            },
        };
        await command.PrepareAsync();
        await command.ExecuteNonQueryAsync();
    }
}
