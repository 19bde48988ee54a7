using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Orleans.Storage;
using PlayMusic.Modes;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

/// <summary>
/// A grain write that finds a newer version stored (two activations for a moment during a failover) is the
/// client's to retry, not a server bug: 503 with Retry-After, and the retry lands. Real Kestrel, silo and
/// database; the config storage behind a switch.
/// </summary>
public sealed class StorageConflictTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private ApiHost _host = null!;
    private volatile bool _conflict;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await ApiHost.StartAsync(_database.ConnectionString,
            services: s => DelegatingGrainStorage.Install(s, StorageNames.Config, inner => new ConflictingStorage(inner, this)));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task A_write_that_meets_a_newer_stored_version_is_503_and_its_retry_lands()
    {
        using var admin = _host.Client(_host.AdminToken());
        var flight = new { name = "Flight (conflict)", maxScorePerSecond = 4321, multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 2, coop = false } };

        _conflict = true;
        using (var refused = await admin.PutAsJsonAsync("/api/admin/config/modes/flight", flight))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Equal("UNAVAILABLE", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        _conflict = false;
        using (var retried = await admin.PutAsJsonAsync("/api/admin/config/modes/flight", flight))
        {
            Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        }

        await Poll.UntilAsync(async () => (await _host.Http.GetFromJsonAsync<List<GameMode>>("/api/config/modes"))!
            .Any(m => m.Id == "flight" && m.Name == "Flight (conflict)"), "the retried mode is served");
    }

    private sealed class ConflictingStorage(IGrainStorage inner, StorageConflictTests test) : DelegatingGrainStorage(inner)
    {
        public override Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
            test._conflict
                ? throw new InconsistentStateException("a newer version is stored (test)", grainState.ETag ?? "", grainState.ETag ?? "")
                : base.WriteStateAsync(stateName, grainId, grainState);
    }
}
