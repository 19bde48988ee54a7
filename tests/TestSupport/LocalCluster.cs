using System.Net.Http.Headers;
using Microsoft.IdentityModel.Tokens;
using PlayMusic.Api.Identity;

namespace PlayMusic.TestSupport;

/// <summary>
/// Silos (<c>src/Silo</c>) and client-only API nodes (<c>PLAYMUSIC_ROLE=api</c>) as separate OS
/// processes on one test database, the shape <c>./run.sh cluster</c> starts, for failover tests
/// that SIGKILL real processes.
/// </summary>
public sealed class LocalCluster : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly string _siloConnectionString;
    private readonly IReadOnlyDictionary<string, string?> _overrides;
    private readonly Dictionary<string, (ApiProcess Process, Dictionary<string, string?> Settings)> _nodes = [];

    private LocalCluster(string connectionString, string siloConnectionString, IReadOnlyDictionary<string, string?> overrides)
    {
        _connectionString = connectionString;
        _siloConnectionString = siloConnectionString;
        _overrides = overrides;
    }

    /// <summary>Silos are named <c>silo-1…</c>, API nodes <c>api-1…</c>.</summary>
    /// <param name="siloConnectionString">The silos' way to the same database (e.g. through a proxy a test cuts); by default theirs is the API nodes'.</param>
    public static async Task<LocalCluster> StartAsync(
        string connectionString, int silos, int apis, IReadOnlyDictionary<string, string?>? overrides = null, string? siloConnectionString = null)
    {
        var cluster = new LocalCluster(connectionString, siloConnectionString ?? connectionString, overrides ?? new Dictionary<string, string?>());
        try
        {
            await Task.WhenAll(Enumerable.Range(1, silos).Select(i => cluster.StartNodeAsync($"silo-{i}", isSilo: true)));
            await Task.WhenAll(Enumerable.Range(1, apis).Select(i => cluster.StartNodeAsync($"api-{i}", isSilo: false)));
            return cluster;
        }
        catch
        {
            // Task.WhenAll waits for every start, so each node that did come up is in _nodes by now
            // (one that did not killed itself). The start failure is the error to report, not a cleanup one.
            try
            {
                await cluster.DisposeAsync();
            }
            catch (Exception)
            {
            }

            throw;
        }
    }

    public Uri Api(int number) => _nodes[$"api-{number}"].Process.BaseAddress;

    /// <summary>A client of API node <paramref name="number"/> carrying an admin token signed with the nodes' test key.</summary>
    public HttpClient AdminClient(int number)
    {
        var issuer = new TokenIssuer(new SymmetricSecurityKey(Convert.FromBase64String(ApiHost.TestJwtKey)), TimeProvider.System);
        var client = new HttpClient { BaseAddress = Api(number), Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Issue("ops", "ops", TokenIssuer.AdminRole, TimeSpan.FromHours(1)).Token);
        return client;
    }

    public ApiProcess Node(string name) => _nodes[name].Process;

    public IEnumerable<string> Silos => _nodes.Keys.Where(n => n.StartsWith("silo-", StringComparison.Ordinal)).Order();

    /// <summary>SIGKILL: the node dies at once, with no goodbye to the cluster.</summary>
    public void Kill(string name) => _nodes[name].Process.Kill();

    /// <summary>SIGTERM and wait: the node leaves the cluster gracefully.</summary>
    public Task StopAsync(string name) => _nodes[name].Process.StopAsync(TimeSpan.FromSeconds(45));

    /// <summary>Starts a killed or stopped node again with the same ports (a restarted pod).</summary>
    public async Task RestartAsync(string name)
    {
        var (process, settings) = _nodes[name];
        // Out of the list until the new process is ready, so a failed start leaves no disposed process behind
        // for DisposeAsync to trip over (ApiProcess.StartAsync kills a process that does not become ready).
        _nodes.Remove(name);
        await process.DisposeAsync();
        var restarted = await ApiProcess.StartAsync(settings, Assembly(name), Project(name));
        _nodes[name] = (restarted, settings);
    }

    private async Task StartNodeAsync(string name, bool isSilo)
    {
        var settings = ApiHost.Settings(isSilo ? _siloConnectionString : _connectionString, FreePort.Next(), FreePort.Next());
        settings.Remove("Logging:LogLevel:Default");
        settings.Remove("Logging:LogLevel:Orleans");
        settings["Logging__LogLevel__Default"] = "Warning";
        settings["PLAYMUSIC_URLS"] = $"http://127.0.0.1:{FreePort.Next()}";
        if (!isSilo)
        {
            settings["PLAYMUSIC_ROLE"] = "api";
        }

        foreach (var (key, value) in _overrides)
        {
            settings[key] = value;
        }

        var process = await ApiProcess.StartAsync(settings, Assembly(name), Project(name));
        lock (_nodes)
        {
            _nodes[name] = (process, settings);
        }
    }

    private static string Assembly(string name) => name.StartsWith("silo-", StringComparison.Ordinal) ? "PlayMusic.Silo" : "PlayMusic.Api";

    private static string Project(string name) => name.StartsWith("silo-", StringComparison.Ordinal) ? "Silo" : "Api";

    /// <summary>Kills every node, even when killing one of them fails.</summary>
    public async ValueTask DisposeAsync()
    {
        List<Exception> errors = [];
        foreach (var (process, _) in _nodes.Values)
        {
            try
            {
                await process.DisposeAsync();
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        _nodes.Clear();
        if (errors.Count > 0)
        {
            throw new AggregateException("could not stop every node", errors);
        }
    }
}
