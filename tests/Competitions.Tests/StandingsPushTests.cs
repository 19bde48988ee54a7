using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

/// <summary>The hub's <c>Standings</c> event: real Kestrel, real SignalR clients in both protocols, runs fed through the scores grain.</summary>
public sealed class StandingsPushTests(ApiFixture fixture) : IClassFixture<ApiFixture>
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
        // Pushes at least a second apart, all inside the observed span, fit in floor(span) + 1. No cap below Runs:
        // on a loaded machine the runs themselves may be a second apart, and then one push per run is right.
        var allowed = (int)clock.Elapsed.TotalSeconds + 1;
        Assert.InRange(pushes, 1, allowed);
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

/// <summary>Two API nodes of one cluster: a join on one node reaches the player's connection on the other.</summary>
public sealed class StandingsTwoNodeTests : DatabaseTest
{
    [Fact]
    public async Task A_join_on_one_node_subscribes_the_players_connection_on_the_other()
    {
        await using var nodeA = await ApiHost.StartAsync(Database.ConnectionString);
        await using var nodeB = await ApiHost.StartAsync(Database.ConnectionString);
        var game = Competition.NewGameId();
        var tournament = await nodeA.CreateTournamentAsync(new
        {
            title = "Two nodes", gameId = game, mode = "runner", startsAt = Competition.Now, endsAt = Competition.Now + 3_600_000,
        });
        var player = await nodeA.GuestAsync("Roamer");
        await using var hubOnB = await HubClient.ConnectAsync(nodeB.BaseAddress, player.Token, Protocol.MessagePack);
        // The join broadcast goes to the nodes registered at that moment: wait until both are.
        var nodes = nodeA.Services.GetRequiredService<IGrainFactory>().GetGrain<IStandingsNodesGrain>(IStandingsNodesGrain.Key);
        await Poll.UntilAsync(async () => (await nodes.GetNodesAsync()).Nodes.Count == 2, "both nodes registered for standings");

        using (var client = nodeA.Client(player.Token))
        {
            using var response = await client.PostAsync($"/api/tournaments/{tournament.Id}/join", null);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await nodeA.RecordAsync(game, player, 700, Competition.Now);
        var standings = await hubOnB.NextAsync("Standings");
        Assert.Equal(tournament.Id, standings["tournamentId"]!.GetValue<string>());
        Assert.Equal(player.PlayerId, standings["entries"]![0]!["playerId"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_new_node_directory_says_it_may_be_missing_nodes_until_every_node_has_had_its_turn_to_register()
    {
        await using var node = await ApiHost.StartAsync(Database.ConnectionString);
        // A directory activation of its own, as after the silo holding the cluster's one was lost.
        var directory = node.Services.GetRequiredService<IGrainFactory>().GetGrain<IStandingsNodesGrain>("restarted-" + Guid.NewGuid());

        Assert.False((await directory.GetNodesAsync()).Complete);
        await Poll.UntilAsync(async () => (await directory.GetNodesAsync()).Complete, "the directory has waited out one registration interval",
            IStandingsNodesGrain.RegisterInterval * 4);
    }
}
