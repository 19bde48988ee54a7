using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using PlayMusic.TestSupport;

namespace PlayMusic.Competitions.Tests;

public sealed record EntryBody(long Rank, string PlayerId, string DisplayName, long Score, long AchievedAt);

public sealed record MeBody(long Rank, long Score);

/// <summary>A leaderboard or standings response as it is on the wire.</summary>
public sealed record BoardBody(string Scope, List<EntryBody> Entries, MeBody? Me, string? Status, long? EndsAt);

public sealed record TournamentBody(
    string Id, string Title, string GameId, string Mode, long StartsAt, long EndsAt, string Status,
    string? Portal, string? Prize, int? MaxAttempts, int Entrants);

public sealed record ProblemBody(int Status, string Code, string Detail);

public static class Competition
{
    public static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public static string NewGameId() => "game-" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Feeds a run the way the sessions API and multiplayer results do: through the scores grain.</summary>
    public static Task<RunRecordResult> RecordAsync(
        this ApiHost host, string gameId, GuestIdentity player, long score, long endedAt, string portal = "y8", long durationMs = 60_000,
        string? runId = null, string mode = "runner") =>
        host.Services.GetRequiredService<IGrainFactory>().GetGrain<IGameScoresGrain>(gameId).RecordAsync(new CompletedRun(
            runId ?? Guid.NewGuid().ToString(), player.PlayerId, player.DisplayName, gameId, mode, portal, score, durationMs, endedAt));

    public static async Task<BoardBody> BoardAsync(this HttpClient client, string url)
    {
        using var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<BoardBody>(JsonSerializerOptions.Web))!;
    }

    public static async Task<TournamentBody> CreateTournamentAsync(this ApiHost host, object body)
    {
        using var admin = host.Client(host.AdminToken());
        using var response = await admin.PostAsJsonAsync("/api/admin/tournaments", body);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<TournamentBody>(JsonSerializerOptions.Web))!;
    }

    public static async Task<ProblemBody> ProblemAsync(this HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (await response.Content.ReadFromJsonAsync<ProblemBody>(JsonSerializerOptions.Web))!;
    }
}
