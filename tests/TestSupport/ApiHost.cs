using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using PlayMusic.Api;
using PlayMusic.Api.Identity;

namespace PlayMusic.TestSupport;

public sealed record GuestIdentity(string PlayerId, string DisplayName, string Token);

/// <summary>
/// The real API process (Kestrel on a free loopback port, embedded Orleans silo on free ports)
/// hosted inside the test process against a test database.
/// </summary>
public sealed class ApiHost : IAsyncDisposable
{
    /// <summary>A fixed signing key, so tokens minted by one host are valid on another of the same test.</summary>
    public const string TestJwtKey = "cGxheW11c2ljLXRlc3Qtc2lnbmluZy1rZXktMzItYnl0ZXMhIQ==";

    private ApiHost(WebApplication app, Uri baseAddress, int siloPort, int gatewayPort)
    {
        App = app;
        BaseAddress = baseAddress;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        Http = new HttpClient { BaseAddress = baseAddress };
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>The settings every test host gets, as <c>--KEY=value</c> arguments.</summary>
    public static Dictionary<string, string?> Settings(string connectionString, int siloPort, int gatewayPort) => new()
    {
        ["PLAYMUSIC_DB"] = connectionString,
        ["PLAYMUSIC_URLS"] = "http://127.0.0.1:0",
        ["PLAYMUSIC_SILO_PORT"] = siloPort.ToString(),
        ["PLAYMUSIC_GATEWAY_PORT"] = gatewayPort.ToString(),
        ["PLAYMUSIC_JWT_KEY"] = TestJwtKey,
        ["PLAYMUSIC_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "playmusic-test-data"),
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:Orleans"] = "Error",
    };

    /// <param name="configure">Runs before start, e.g. to map an endpoint that only a test needs.</param>
    public static async Task<ApiHost> StartAsync(
        string connectionString,
        IReadOnlyDictionary<string, string?>? overrides = null,
        int? siloPort = null,
        int? gatewayPort = null,
        Action<WebApplication>? configure = null,
        Action<IServiceCollection>? services = null)
    {
        var silo = siloPort ?? FreePort.Next();
        var gateway = gatewayPort ?? FreePort.Next();
        var settings = Settings(connectionString, silo, gateway);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var app = PlayMusicApp.Build(settings.Select(kv => $"--{kv.Key}={kv.Value}").ToArray(), services);
        configure?.Invoke(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ApiHost(app, new Uri(address), silo, gateway);
    }

    public Task<GuestIdentity> GuestAsync(string? displayName = null) => GuestAsync(Http, displayName);

    /// <summary>A new guest from any running API (in this process or another), over HTTP.</summary>
    public static async Task<GuestIdentity> GuestAsync(Uri api, string? displayName = null)
    {
        using var http = new HttpClient { BaseAddress = api };
        return await GuestAsync(http, displayName);
    }

    private static async Task<GuestIdentity> GuestAsync(HttpClient http, string? displayName)
    {
        using var response = await http.PostAsJsonAsync("/api/auth/guest", new { displayName });
        response.EnsureSuccessStatusCode();
        var body = (await response.Content.ReadFromJsonAsync<GuestResponseBody>())!;
        return new GuestIdentity(body.PlayerId, body.DisplayName, body.Token);
    }

    public string AdminToken() =>
        Services.GetRequiredService<TokenIssuer>().Issue("admin-test", "admin", TokenIssuer.AdminRole, TimeSpan.FromHours(1)).Token;

    /// <summary>A client that sends the given bearer token on every request.</summary>
    public HttpClient Client(string token)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await App.StopAsync(timeout.Token);
        }
        finally
        {
            await App.DisposeAsync();
        }
    }

    private sealed record GuestResponseBody(string PlayerId, string DisplayName, string Token);
}
