using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Runtime;
using PlayMusic.Competitions;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// One tournament. Its state is its row in <c>tournaments</c> (the same row the public listing reads,
/// so there is one source of truth) plus its entrants and counted attempts. The lifecycle is driven
/// by a grain timer due exactly at the next transition; a durable reminder (Orleans' minimum period
/// is one minute) re-activates the grain after a restart or collection so the timer is re-armed,
/// and <see cref="TournamentScheduleSweep"/> activates every open tournament when a silo starts.
/// Standings changes are pushed to every API node by a second timer, at most once per
/// <see cref="StandingsPushInterval"/> (docs/competitions.md, "Live standings").
/// </summary>
public sealed class TournamentGrain(NpgsqlDataSource dataSource, TimeProvider clock, LeaderboardSubmitter boards, ILogger<TournamentGrain> logger)
    : Grain, ITournamentGrain, IRemindable
{
    private const string LifecycleReminder = "lifecycle";
    private static readonly TimeSpan ReminderPeriod = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxTimerWait = TimeSpan.FromDays(1);

    /// <summary>
    /// A run that ended inside the window may reach the grain a little after <c>endsAt</c> (delivery,
    /// retries); it still counts within this grace. Runs that ended at or after <c>endsAt</c> never do.
    /// </summary>
    public static readonly TimeSpan LateDeliveryGrace = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan StandingsPushInterval = TimeSpan.FromSeconds(1);

    /// <summary>Board positions one push compares with what was last pushed; the rest follows in later pushes.</summary>
    public const int StandingsScanWindow = 2_000;

    private readonly HashSet<string> _entrants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _attempts = new(StringComparer.Ordinal);

    /// <summary>
    /// Counted runs by <see cref="RunKey"/>: a long tournament counts millions of runs, and 16 bytes each is a
    /// fifth of what their ids take as strings.
    /// </summary>
    private readonly HashSet<UInt128> _countedRuns = [];

    /// <summary>Attempts being stored: a repeat of the run waits for its outcome before it reaches the board.</summary>
    private readonly Dictionary<string, Task> _attemptsBeingStored = new(StringComparer.Ordinal);
    private TournamentDefinition? _definition;
    private string _status = TournamentStatus.Upcoming;
    private IGrainTimer? _transitionTimer;
    private bool _reminderRegistered;

    /// <summary>What each player's rank and score were in the pushes so far (this activation's).</summary>
    private readonly Dictionary<string, (long Rank, long Score)> _pushed = new(StringComparer.Ordinal);
    private IGrainTimer? _pushTimer;
    private bool _pushDue;
    private long _lastPushAt;

    /// <summary>
    /// A push is between reading the board and recording what it sent in <see cref="_pushed"/>, and a run that
    /// interleaved meanwhile took its old rank from <see cref="_pushed"/>, which may be stale by then.
    /// </summary>
    private bool _pushInFlight;
    private bool _improvedDuringPush;

    /// <summary>The last push sent: one that would change nothing a listener has is not sent again.</summary>
    private StandingsUpdate? _lastSent;

    /// <summary>Since the last push, ranks changed only within [from, to] (empty when from &gt; to).</summary>
    private long _changedFromRank = long.MaxValue;
    private long _changedToRank;

    private string Id => this.GetPrimaryKeyString();

    private ILeaderboardGrain Board => GrainFactory.GetGrain<ILeaderboardGrain>(BoardKeys.Tournament(Id));

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    private bool IsFinal => _status is TournamentStatus.Ended or TournamentStatus.Cancelled;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        await AdvanceAsync();
    }

    public async Task<TournamentResult> CreateAsync(TournamentDefinition definition)
    {
        if (_definition is not null)
        {
            // The same create again (an organiser's retry under the same Idempotency-Key) is answered as the first.
            return _definition == definition ? Ok() : TournamentResult.Fail(TournamentError.AlreadyExists);
        }

        var now = Now;
        _status = TournamentStatus.At(definition.StartsAt, definition.EndsAt, now);
        await using (var command = dataSource.CreateCommand("""
            INSERT INTO tournaments (id, title, game_id, mode, starts_at, ends_at, portal, prize, max_attempts, status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
            """))
        {
            AddDefinition(command, definition);
            command.Parameters.AddWithValue(_status);
            command.Parameters.AddWithValue(now);
            await command.ExecuteNonQueryAsync();
        }

        _definition = definition;
        await AdvanceAsync();
        return Ok();
    }

    public Task<TournamentResult> GetAsync() =>
        Task.FromResult(_definition is null ? TournamentResult.Fail(TournamentError.NotFound) : Ok());

    public async Task<TournamentResult> UpdateAsync(TournamentDefinition definition)
    {
        if (_definition is null)
        {
            return TournamentResult.Fail(TournamentError.NotFound);
        }

        if (_status == TournamentStatus.Cancelled || Now >= _definition.StartsAt)
        {
            return TournamentResult.Fail(TournamentError.AlreadyStarted);
        }

        await using (var command = dataSource.CreateCommand("""
            UPDATE tournaments SET title = $2, game_id = $3, mode = $4, starts_at = $5, ends_at = $6, portal = $7,
                prize = $8, max_attempts = $9, updated_at = $10
            WHERE id = $1
            """))
        {
            AddDefinition(command, definition);
            command.Parameters.AddWithValue(Now);
            await command.ExecuteNonQueryAsync();
        }

        _definition = definition;
        await AdvanceAsync();
        return Ok();
    }

    public async Task<TournamentResult> CancelAsync()
    {
        if (_definition is null)
        {
            return TournamentResult.Fail(TournamentError.NotFound);
        }

        if (_status == TournamentStatus.Cancelled)
        {
            return Ok();
        }

        if (Now >= _definition.EndsAt)
        {
            return TournamentResult.Fail(TournamentError.AlreadyEnded);
        }

        await SetStatusAsync(TournamentStatus.Cancelled);
        await AdvanceAsync();
        return Ok();
    }

    public async Task<TournamentResult> JoinAsync(string playerId, string? portal)
    {
        if (_definition is null)
        {
            return TournamentResult.Fail(TournamentError.NotFound);
        }

        if (_status == TournamentStatus.Cancelled || Now >= _definition.EndsAt)
        {
            return TournamentResult.Fail(TournamentError.Closed);
        }

        if (_definition.Portal is not null && portal != _definition.Portal)
        {
            return TournamentResult.Fail(TournamentError.WrongPortal);
        }

        if (!_entrants.Contains(playerId))
        {
            await using (var command = dataSource.CreateCommand(
                "INSERT INTO tournament_entrants (tournament_id, player_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"))
            {
                command.Parameters.AddWithValue(Id);
                command.Parameters.AddWithValue(playerId);
                command.Parameters.AddWithValue(Now);
                await command.ExecuteNonQueryAsync();
            }

            _entrants.Add(playerId);
            try
            {
                foreach (var node in (await NodesAsync()).Nodes)
                {
                    node.OnEntrantJoinedAsync(Id, playerId).Ignore();
                }
            }
            catch (Exception e)
            {
                // The join is durable; the player's connections elsewhere join the group when they reconnect.
                logger.LogWarning(e, "Telling nodes that {PlayerId} joined tournament {TournamentId} failed", playerId, Id);
            }
        }

        return Ok();
    }

    public async Task<TournamentRunResult> RecordRunAsync(CompletedRun run)
    {
        var verdict = VerdictFor(run);
        if (verdict is TournamentRunVerdict.Counted)
        {
            // Take the attempt before awaiting: this method interleaves with the player's other runs.
            _countedRuns.Add(RunKey(run.RunId));
            _attempts[run.PlayerId] = _attempts.GetValueOrDefault(run.PlayerId) + 1;
            var storing = StoreAttemptAsync(run);
            _attemptsBeingStored[run.RunId] = storing;
            try
            {
                await storing;
            }
            catch
            {
                _countedRuns.Remove(RunKey(run.RunId));
                _attempts[run.PlayerId]--;
                throw;
            }
            finally
            {
                _attemptsBeingStored.Remove(run.RunId);
            }
        }
        else if (verdict is TournamentRunVerdict.Duplicate && _attemptsBeingStored.TryGetValue(run.RunId, out var storing))
        {
            // A repeat that overtook its first delivery: if that attempt is not stored, neither is this score.
            await storing;
        }

        // A duplicate is offered to the board again (a crash may have come between the attempt and the board
        // write), but only until the standings freeze: a retry sent after that changes nothing.
        if (verdict is TournamentRunVerdict.Counted
            || (verdict is TournamentRunVerdict.Duplicate && !StandingsFrozen))
        {
            var submitted = await boards.SubmitAsync(BoardKeys.Tournament(Id), new ScoreSubmission(run.PlayerId, run.DisplayName, run.Score, run.EndedAt));
            if (submitted.Improved)
            {
                // An improver moves up from its old rank (unknown: the board's end) and pushes down only those it passes.
                _improvedDuringPush |= _pushInFlight;
                var oldRank = _pushed.TryGetValue(run.PlayerId, out var last) ? last.Rank : long.MaxValue;
                MarkStandingsChanged(submitted.Standing.Rank, Math.Max(oldRank, submitted.Standing.Rank));
            }
        }

        return new TournamentRunResult(Id, verdict);
    }

    /// <summary>Past <c>endsAt</c> and its <see cref="LateDeliveryGrace"/>: no run changes the standings any more.</summary>
    private bool StandingsFrozen => Now >= _definition!.EndsAt + (long)LateDeliveryGrace.TotalMilliseconds;

    private async Task StoreAttemptAsync(CompletedRun run)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO tournament_attempts (tournament_id, run_id, player_id, score, ended_at)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
            """);
        command.Parameters.AddWithValue(Id);
        command.Parameters.AddWithValue(run.RunId);
        command.Parameters.AddWithValue(run.PlayerId);
        command.Parameters.AddWithValue(run.Score);
        command.Parameters.AddWithValue(run.EndedAt);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<TournamentStandings?> GetStandingsAsync(LeaderboardQuery query)
    {
        if (_definition is null)
        {
            return null;
        }

        var page = await Board.GetPageAsync(query);
        return new TournamentStandings(View(), page);
    }

    public Task EnsureScheduledAsync() => Task.CompletedTask;

    public Task ReceiveReminder(string reminderName, TickStatus status) => AdvanceAsync();

    private TournamentRunVerdict VerdictFor(CompletedRun run)
    {
        if (_definition is null || _status == TournamentStatus.Cancelled)
        {
            return TournamentRunVerdict.Cancelled;
        }

        if (_countedRuns.Contains(RunKey(run.RunId)))
        {
            return TournamentRunVerdict.Duplicate;
        }

        if (!_entrants.Contains(run.PlayerId))
        {
            return TournamentRunVerdict.NotJoined;
        }

        if (_definition.Portal is not null && run.Portal != _definition.Portal)
        {
            return TournamentRunVerdict.WrongPortal;
        }

        // Modes cap scores differently: a runner cup compares runner runs only.
        if (run.Mode != _definition.Mode)
        {
            return TournamentRunVerdict.WrongMode;
        }

        if (run.EndedAt < _definition.StartsAt || run.EndedAt >= _definition.EndsAt || StandingsFrozen)
        {
            return TournamentRunVerdict.OutsideWindow;
        }

        return _definition.MaxAttempts is { } max && _attempts.GetValueOrDefault(run.PlayerId) >= max
            ? TournamentRunVerdict.AttemptsExhausted
            : TournamentRunVerdict.Counted;
    }

    /// <summary>
    /// Brings the stored status up to the clock and arms the timer for the next transition; once the
    /// tournament is over, drops the timer and the reminder so the grain can be collected.
    /// </summary>
    private async Task AdvanceAsync()
    {
        if (_definition is null)
        {
            return;
        }

        var now = Now;
        if (_status != TournamentStatus.Cancelled)
        {
            var due = TournamentStatus.At(_definition.StartsAt, _definition.EndsAt, now);
            if (due != _status)
            {
                await SetStatusAsync(due);
            }
        }

        if (IsFinal)
        {
            // One last push so listeners see the final status (only if this activation pushed before).
            if (_lastPushAt > 0)
            {
                MarkStandingsChanged(long.MaxValue, 0);
            }

            _transitionTimer?.Dispose();
            _transitionTimer = null;
            if (await this.GetReminder(LifecycleReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }

            _reminderRegistered = false;
            return;
        }

        var next = _status == TournamentStatus.Upcoming ? _definition.StartsAt : _definition.EndsAt;
        // A .NET timer cannot wait ~50 days in one go; a tick before the transition just re-arms.
        var dueTime = TimeSpan.FromMilliseconds(Math.Clamp(next - now, 0, (long)MaxTimerWait.TotalMilliseconds));
        if (_transitionTimer is null)
        {
            _transitionTimer = this.RegisterGrainTimer(_ => AdvanceAsync(), new GrainTimerCreationOptions(dueTime, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        }
        else
        {
            _transitionTimer.Change(dueTime, Timeout.InfiniteTimeSpan);
        }

        if (!_reminderRegistered)
        {
            await this.RegisterOrUpdateReminder(LifecycleReminder, ReminderPeriod, ReminderPeriod);
            _reminderRegistered = true;
        }
    }

    /// <summary>
    /// Notes that ranks from <paramref name="fromRank"/> to <paramref name="toRank"/> may have changed and schedules one push,
    /// due <see cref="StandingsPushInterval"/> after the previous one: however many runs arrive, a
    /// tournament pushes at most once per interval.
    /// </summary>
    private void MarkStandingsChanged(long fromRank, long toRank)
    {
        _changedFromRank = Math.Min(_changedFromRank, fromRank);
        _changedToRank = Math.Max(_changedToRank, toRank);
        if (_pushDue)
        {
            return;
        }

        _pushDue = true;
        var wait = TimeSpan.FromMilliseconds(Math.Max(0, _lastPushAt + (long)StandingsPushInterval.TotalMilliseconds - Now));
        if (_pushTimer is null)
        {
            _pushTimer = this.RegisterGrainTimer(_ => PushStandingsAsync(), new GrainTimerCreationOptions(wait, Timeout.InfiniteTimeSpan));
        }
        else
        {
            _pushTimer.Change(wait, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Sends the top entries and the changed ranks to every API node once. Changes are found by comparing
    /// up to <see cref="StandingsScanWindow"/> positions of the changed range with what was last pushed;
    /// the rest of a longer range (or changes past <see cref="StandingsUpdate.MaxChanges"/>) follows in the next push.
    /// </summary>
    private async Task PushStandingsAsync()
    {
        _pushDue = false;
        _lastPushAt = Now;
        var (fromRank, toRank) = (_changedFromRank, _changedToRank);
        (_changedFromRank, _changedToRank) = (long.MaxValue, 0);
        _pushInFlight = true;
        try
        {
            var nodes = await NodesAsync();
            if (!nodes.Complete)
            {
                // A directory that has just restarted may not know every node yet: the push waits for it.
                MarkStandingsChanged(fromRank, toRank);
                return;
            }

            var top = Board.GetRangeAsync(1, StandingsUpdate.TopEntries);
            var count = fromRank > toRank ? 0 : (int)Math.Min(StandingsScanWindow, toRank - fromRank + 1);
            IReadOnlyList<LeaderboardEntry> scanned = count == 0 ? [] : await Board.GetRangeAsync(fromRank, count);
            var changes = new List<StandingChange>();
            long? continueFrom = count > 0 && scanned.Count == count && fromRank + count <= toRank ? fromRank + count : null;
            foreach (var entry in scanned)
            {
                if (_pushed.TryGetValue(entry.PlayerId, out var last) && last == (entry.Rank, entry.Score))
                {
                    continue;
                }

                if (changes.Count == StandingsUpdate.MaxChanges)
                {
                    continueFrom = entry.Rank;
                    break;
                }

                changes.Add(new StandingChange(entry.PlayerId, entry.Rank, entry.Score));
            }

            var view = View();
            var update = new StandingsUpdate(Id, view.Status, view.EndsAt, await top, changes, continueFrom is not null);
            if (changes.Count == 0 && continueFrom is null && _lastSent is { } previous
                && previous.Status == update.Status && previous.Entries.SequenceEqual(update.Entries))
            {
                return;
            }

            foreach (var node in nodes.Nodes)
            {
                node.OnStandingsAsync(update).Ignore();
            }

            changes.ForEach(c => _pushed[c.PlayerId] = (c.Rank, c.Score));
            _lastSent = update;
            if (continueFrom is { } next)
            {
                MarkStandingsChanged(next, toRank);
            }
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Pushing standings of tournament {TournamentId} failed; retrying", Id);
            MarkStandingsChanged(fromRank, toRank);
        }
        finally
        {
            _pushInFlight = false;
            if (_improvedDuringPush)
            {
                // The next push compares this range again with what was just sent: the run's own range may have
                // missed a player this push moved.
                _improvedDuringPush = false;
                MarkStandingsChanged(fromRank, toRank);
            }
        }
    }

    /// <summary>
    /// The API nodes, each sent one one-way call (docs/competitions.md): a dead node just misses the message.
    /// </summary>
    private Task<StandingsNodeList> NodesAsync() => GrainFactory.GetGrain<IStandingsNodesGrain>(IStandingsNodesGrain.Key).GetNodesAsync();

    private async Task SetStatusAsync(string status)
    {
        await using var command = dataSource.CreateCommand("UPDATE tournaments SET status = $2, updated_at = $3 WHERE id = $1");
        command.Parameters.AddWithValue(Id);
        command.Parameters.AddWithValue(status);
        command.Parameters.AddWithValue(Now);
        await command.ExecuteNonQueryAsync();
        logger.LogInformation("Tournament {TournamentId} is now {Status}", Id, status);
        _status = status;
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            "SELECT title, game_id, mode, starts_at, ends_at, portal, prize, max_attempts, status FROM tournaments WHERE id = $1") { Parameters = { new() { Value = Id } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            "SELECT player_id FROM tournament_entrants WHERE tournament_id = $1") { Parameters = { new() { Value = Id } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            "SELECT player_id, run_id FROM tournament_attempts WHERE tournament_id = $1") { Parameters = { new() { Value = Id } } });
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return;
        }

        _definition = new TournamentDefinition(
            reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4),
            reader.IsDBNull(5) ? null : reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6),
            reader.IsDBNull(7) ? null : reader.GetInt32(7));
        _status = reader.GetString(8);

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            _entrants.Add(reader.GetString(0));
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var playerId = reader.GetString(0);
            _attempts[playerId] = _attempts.GetValueOrDefault(playerId) + 1;
            _countedRuns.Add(RunKey(reader.GetString(1)));
        }
    }

    /// <summary>128 bits of the id's SHA-256: two runs of one tournament share a key with odds of about 2^-89 at a million runs.</summary>
    private static UInt128 RunKey(string runId)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(runId), hash);
        return BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }

    private void AddDefinition(NpgsqlCommand command, TournamentDefinition definition)
    {
        command.Parameters.AddWithValue(Id);
        command.Parameters.AddWithValue(definition.Title);
        command.Parameters.AddWithValue(definition.GameId);
        command.Parameters.AddWithValue(definition.Mode);
        command.Parameters.AddWithValue(definition.StartsAt);
        command.Parameters.AddWithValue(definition.EndsAt);
        command.Parameters.AddWithValue((object?)definition.Portal ?? DBNull.Value);
        command.Parameters.AddWithValue((object?)definition.Prize ?? DBNull.Value);
        command.Parameters.AddWithValue((object?)definition.MaxAttempts ?? DBNull.Value);
    }

    private TournamentResult Ok() => new(TournamentError.None, View());

    /// <summary>The wire view; the status comes from the clock so it is exact even between a transition and its timer tick.</summary>
    private Tournament View()
    {
        var d = _definition!;
        var status = _status == TournamentStatus.Cancelled ? _status : TournamentStatus.At(d.StartsAt, d.EndsAt, Now);
        return new Tournament(Id, d.Title, d.GameId, d.Mode, d.StartsAt, d.EndsAt, status, d.Portal, d.Prize, d.MaxAttempts, _entrants.Count);
    }
}
