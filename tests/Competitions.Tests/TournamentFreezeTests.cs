using Microsoft.Extensions.DependencyInjection;
using PlayMusic.Grains.Competitions;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

/// <summary>
/// Standings freeze when the window closes (PROTOCOL §4): a repeated delivery of a counted run is offered to the
/// board again only until then. A silo with a <see cref="SiloClock"/> as clock, on a real database.
/// </summary>
public sealed class TournamentFreezeTests : SiloTest
{
    private readonly SiloClock _time = new();

    protected override void ConfigureSilo(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    [Fact]
    public async Task A_repeat_of_a_counted_run_after_the_freeze_changes_no_standing()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var tournament = Grains.GetGrain<ITournamentGrain>(Guid.NewGuid().ToString());
        var game = Competition.NewGameId();
        await tournament.CreateAsync(new TournamentDefinition("Freeze", game, "runner", now, now + 60_000, null, null, null));
        await tournament.JoinAsync("p1", null);
        CompletedRun Run(long score) => new("run-1", "p1", "One", game, "runner", "y8", score, 30_000, now + 59_000);

        Assert.Equal(TournamentRunVerdict.Counted, (await tournament.RecordRunAsync(Run(1_000))).Verdict);
        // Within the late-delivery grace a repeat still reaches the board (a crash may have come between the
        // attempt and the board write); the board keeps the better of the two.
        _time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(TournamentRunVerdict.Duplicate, (await tournament.RecordRunAsync(Run(2_000))).Verdict);
        Assert.Equal(2_000, await ScoreAsync(tournament));

        _time.Advance(TournamentGrain.LateDeliveryGrace);
        Assert.Equal(TournamentRunVerdict.Duplicate, (await tournament.RecordRunAsync(Run(3_000))).Verdict);
        Assert.Equal(2_000, await ScoreAsync(tournament)); // was 3,000: a retry sent after the freeze rewrote the standings
    }

    [Fact]
    public async Task Counted_runs_and_attempts_are_known_again_after_a_restart()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var id = Guid.NewGuid().ToString();
        var game = Competition.NewGameId();
        await Grains.GetGrain<ITournamentGrain>(id).CreateAsync(new TournamentDefinition("Reload", game, "runner", now, now + 600_000, null, null, 2));
        await Grains.GetGrain<ITournamentGrain>(id).JoinAsync("p1", null);
        CompletedRun Run(string runId, long score) => new(runId, "p1", "One", game, "runner", "y8", score, 30_000, now + 1_000);
        Assert.Equal(TournamentRunVerdict.Counted, (await Grains.GetGrain<ITournamentGrain>(id).RecordRunAsync(Run("room-1:p1", 1_000))).Verdict);

        await RestartSiloAsync();
        var reloaded = Grains.GetGrain<ITournamentGrain>(id);
        Assert.Equal(TournamentRunVerdict.Duplicate, (await reloaded.RecordRunAsync(Run("room-1:p1", 1_000))).Verdict);
        Assert.Equal(TournamentRunVerdict.Counted, (await reloaded.RecordRunAsync(Run("room-2:p1", 2_000))).Verdict);
        Assert.Equal(TournamentRunVerdict.AttemptsExhausted, (await reloaded.RecordRunAsync(Run("room-3:p1", 3_000))).Verdict);
        Assert.Equal(2_000, await ScoreAsync(reloaded));
    }

    private static async Task<long> ScoreAsync(ITournamentGrain tournament) =>
        Assert.Single((await tournament.GetStandingsAsync(new LeaderboardQuery(10, null, false)))!.Page.Entries).Score;
}
