using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

/// <summary>The hub's <c>Standings</c> event: real Kestrel, real SignalR clients in both protocols, runs fed through the scores grain.</summary>
public sealed class StandingsPushTests(CompetitionsFixture fixture) : IClassFixture<CompetitionsFixture>
{
    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(2);

    private ApiHost Host => fixture.Host;

    [Theory]
    [InlineData(Protocol.Json)]
    [InlineData(Protocol.MessagePack)]
    public async Task Entrants_hear_rank_changes_and_a_stranger_hears_nothing(Protocol protocol)
    {
        var (game, tournament) = await LiveTournamentAsync();
        var (early, late, stranger) = (await Host.GuestAsync("Early"), await Host.GuestAsync("Late"), await Host.GuestAsync("Stranger"));

        // Early joins before connecting (found by the connect-time query); Late joins over HTTP while connected.
        await JoinAsync(tournament, early);
        await using var earlyHub = await HubClient.ConnectAsync(Host.BaseAddress, early.Token, protocol);
        await using var lateHub = await HubClient.ConnectAsync(Host.BaseAddress, late.Token, protocol);
        await using var strangerHub = await HubClient.ConnectAsync(Host.BaseAddress, stranger.Token, protocol);
        await JoinAsync(tournament, late);

        var before = Competition.Now;
        await Host.RecordAsync(game, late, 500, before);
        var first = await lateHub.NextAsync("Standings", s => Changed(s, late.PlayerId) is not null);
        Assert.Equal(
            ["tournamentId", "status", "endsAt", "entries", "changes", "changesTruncated"],
            first.AsObject().Select(p => p.Key));
        Assert.Equal(tournament, first["tournamentId"]!.GetValue<string>());
        Assert.Equal("live", first["status"]!.GetValue<string>());
        var top = Assert.Single(first["entries"]!.AsArray())!;
        Assert.Equal(["rank", "playerId", "displayName", "score", "achievedAt"], top.AsObject().Select(p => p.Key));
        Assert.Equal((1, late.PlayerId, "Late", 500, before),
            (top["rank"]!.GetValue<long>(), top["playerId"]!.GetValue<string>(), top["displayName"]!.GetValue<string>(),
             top["score"]!.GetValue<long>(), top["achievedAt"]!.GetValue<long>()));
        Assert.Equal((1, 500), Changed(first, late.PlayerId));
        await earlyHub.NextAsync("Standings", s => Changed(s, late.PlayerId) == (1, 500));

        // Early overtakes Late: both hear the new ranks in one push.
        await Host.RecordAsync(game, early, 900, Competition.Now);
        var second = await earlyHub.NextAsync("Standings", s => Changed(s, early.PlayerId) is not null);
        Assert.Equal((1, 900), Changed(second, early.PlayerId));
        Assert.Equal((2, 500), Changed(second, late.PlayerId));
        await lateHub.NextAsync("Standings", s => Changed(s, late.PlayerId) == (2, 500));

        await Assert.ThrowsAsync<TimeoutException>(() => strangerHub.NextAsync("Standings", timeout: Silence));
    }

    [Fact]
    public async Task Many_runs_in_a_burst_are_pushed_at_most_once_per_second()
    {
        var (game, tournament) = await LiveTournamentAsync();
        var player = await Host.GuestAsync("Bursty");
        await using var hub = await HubClient.ConnectAsync(Host.BaseAddress, player.Token, Protocol.Json);
        await JoinAsync(tournament, player);

        const int Runs = 12;
        var clock = Stopwatch.StartNew();
        for (var i = 1; i <= Runs; i++)
        {
            await Host.RecordAsync(game, player, 100 * i, Competition.Now);
        }

        // Every push holds the best score at its time; the last one carries the last run's.
        var pushes = 1;
        while (Changed(await hub.NextAsync("Standings"), player.PlayerId) != (1, 100 * Runs))
        {
            pushes++;
        }

        await Assert.ThrowsAsync<TimeoutException>(() => hub.NextAsync("Standings", timeout: Silence));
        // Pushes at least a second apart, all inside the observed span, fit in floor(span) + 1.
        var allowed = (int)clock.Elapsed.TotalSeconds + 1;
        Assert.InRange(pushes, 1, Math.Min(allowed, Runs - 1));
    }

    private static (long Rank, long Score)? Changed(JsonNode standings, string playerId) =>
        standings["changes"]!.AsArray().FirstOrDefault(c => c!["playerId"]!.GetValue<string>() == playerId) is { } change
            ? (change["rank"]!.GetValue<long>(), change["score"]!.GetValue<long>())
            : null;

    private async Task<(string Game, string TournamentId)> LiveTournamentAsync()
    {
        var game = Competition.NewGameId();
        var tournament = await Host.CreateTournamentAsync(new
        {
            title = "Live standings", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000,
        });
        return (game, tournament.Id);
    }

    private async Task JoinAsync(string tournamentId, GuestIdentity player)
    {
        using var client = Host.Client(player.Token);
        using var response = await client.PostAsync($"/api/tournaments/{tournamentId}/join", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
