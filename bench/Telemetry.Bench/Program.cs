using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

// Load generator for the telemetry ingest (PROTOCOL §3) against a running server:
//   dotnet run -c Release --project bench/Telemetry.Bench -- --url http://127.0.0.1:5280 --seconds 10 --concurrency 32 --server-pid <pid>
// Each virtual engine repeats the real sequence: session → perf → end, plus a drop-out beacon for
// every fourth load. `--completed F` (default 0.5) is the share of ends that report a completed run,
// whose score goes to the game's leaderboards before the end is answered. Then, for the same time and
// concurrency, GET /healthz as the plain baseline; `--rounds N` (default 3) repeats both and prints the medians.
// `--dashboard-token <admin token>` reads the portals dashboard before and after, so the counters count the run live.
var options = Options.Parse(args);
using var http = new HttpClient(new SocketsHttpHandler
{
    MaxConnectionsPerServer = options.Concurrency,
    PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
})
{ BaseAddress = new Uri(options.Url), Timeout = TimeSpan.FromSeconds(30) };

// A few hundred players, so distinct players and replay rates look like a portal's, not like 32 robots.
var tokens = await Task.WhenAll(Enumerable.Range(0, 400).Select(async i =>
{
    using var response = await http.PostAsJsonAsync("/api/auth/guest", new { displayName = $"bench-{i}" });
    response.EnsureSuccessStatusCode();
    return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
}));

// With an admin token, the dashboard is read first: its counters then count the run as it goes (until a
// portal × day is first read its counter ignores the stream and recounts on that read), as with LiveOps watching.
if (options.DashboardToken is not null)
{
    Console.WriteLine($"dashboard before the run: {await DashboardSessionsAsync(http, options.DashboardToken)} sessions today");
}

// Warm-up (JIT, connection pool, grain activations), not measured.
var randoms = Enumerable.Range(0, options.Concurrency).Select(i => new Random(i)).ToArray();
await RunAsync("warm-up", TimeSpan.FromSeconds(options.WarmupSeconds), i => EngineIterationAsync(http, tokens[randoms[i].Next(tokens.Length)], randoms[i], options.CompletedShare), print: false);
// Rounds of both phases, each phase started once PostgreSQL has gone quiet: after an ingest phase its autovacuum
// and checkpoint work, on the server's core when pinned, would otherwise slow the /healthz phase and flatter the ratio.
var ingestRates = new List<double>();
var plainRates = new List<double>();
for (var round = 1; round <= options.Rounds; round++)
{
    await SettleAsync();
    var ingest = await RunAsync("telemetry ingest (session → perf → end, + drop-out beacons)", TimeSpan.FromSeconds(options.Seconds),
        i => EngineIterationAsync(http, tokens[randoms[i].Next(tokens.Length)], randoms[i], options.CompletedShare));
    await SettleAsync();
    var plain = await RunAsync("plain GET /healthz", TimeSpan.FromSeconds(options.Seconds), _ => HealthzAsync(http));
    Console.WriteLine($"round {round}: durable ingest / plain = {ingest.PerSecond / plain.PerSecond:P0} (accepted events/s vs 200 responses/s)");
    ingestRates.Add(ingest.PerSecond);
    plainRates.Add(plain.PerSecond);
}

if (options.Rounds > 1)
{
    Console.WriteLine($"median of {options.Rounds} rounds: ingest {Median(ingestRates):F0}/s, /healthz {Median(plainRates):F0}/s, " +
        $"durable ingest / plain = {Median(ingestRates) / Median(plainRates):P0}");
}
if (options.DashboardToken is not null)
{
    Console.WriteLine($"dashboard after the run: {await DashboardSessionsAsync(http, options.DashboardToken)} sessions today");
}

return 0;

/// <summary>Waits (up to 30 s) until PostgreSQL has used under 5 % of a core for a whole second; needs --db-pid.</summary>
async Task SettleAsync()
{
    var waited = Stopwatch.StartNew();
    while (DatabaseCpu(options.DatabasePid) is { } before && waited.Elapsed < TimeSpan.FromSeconds(30))
    {
        await Task.Delay(TimeSpan.FromSeconds(1));
        if (DatabaseCpu(options.DatabasePid)!.Value - before < TimeSpan.FromMilliseconds(50))
        {
            return;
        }
    }

    if (options.DatabasePid is not null)
    {
        Console.WriteLine("PostgreSQL was still busy after 30 s; measuring anyway");
    }
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

/// <summary>Today's sessions over every portal, from GET /api/admin/portals (retried while the counters recount).</summary>
static async Task<long> DashboardSessionsAsync(HttpClient http, string adminToken)
{
    var today = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
    for (var attempt = 0; ; attempt++)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/admin/portals?from={today}&to={today}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        using var response = await http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 30)
        {
            await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(2));
            continue;
        }

        response.EnsureSuccessStatusCode();
        var portals = await response.Content.ReadFromJsonAsync<JsonElement>();
        return portals.EnumerateArray().Sum(p => p.GetProperty("sessions").GetInt64());
    }
}

async Task<Result> RunAsync(string name, TimeSpan duration, Func<int, Task<List<(bool Ok, double Ms)>>> iteration, bool print = true)
{
    var loadBefore = LoadAverage();
    var cpuBefore = ServerCpu(options.ServerPid);
    var dbCpuBefore = DatabaseCpu(options.DatabasePid);
    var wall = Stopwatch.StartNew();
    var deadline = DateTime.UtcNow + duration;
    var samples = await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async i =>
    {
        var mine = new List<(bool Ok, double Ms)>();
        while (DateTime.UtcNow < deadline)
        {
            mine.AddRange(await iteration(i));
        }

        return mine;
    }));
    wall.Stop();
    var cpu = ServerCpu(options.ServerPid) - cpuBefore;
    var dbCpu = DatabaseCpu(options.DatabasePid) - dbCpuBefore;
    var all = samples.SelectMany(s => s).ToList();
    var ok = all.Count(s => s.Ok);
    var latencies = all.Select(s => s.Ms).Order().ToArray();
    var result = new Result(ok / wall.Elapsed.TotalSeconds);
    if (print)
    {
        // InvariantGlobalization is on: interpolation formats with the invariant culture.
        Console.WriteLine(
            $"{name}: {ok} accepted, {all.Count - ok} failed in {wall.Elapsed.TotalSeconds:F1} s = {result.PerSecond:F0}/s; " +
            $"latency p50 {Percentile(latencies, 0.50):F2} ms, p99 {Percentile(latencies, 0.99):F2} ms; " +
            (cpu is null ? "server CPU: give --server-pid" : $"server CPU {cpu.Value.TotalSeconds / wall.Elapsed.TotalSeconds:F2} cores " +
                $"({cpu.Value.TotalMilliseconds / Math.Max(1, ok):F3} ms CPU per request)") +
            (dbCpu is null ? "" : $"; PostgreSQL CPU {dbCpu.Value.TotalSeconds / wall.Elapsed.TotalSeconds:F2} cores " +
                $"({dbCpu.Value.TotalMilliseconds / Math.Max(1, ok):F3} ms per request)") +
            $"; load average {loadBefore} → {LoadAverage()}");
    }

    return result;
}

static async Task<List<(bool Ok, double Ms)>> EngineIterationAsync(HttpClient http, string token, Random random, double completedShare)
{
    string[] referrers = ["https://www.y8.com/games/song", "https://playgama.com/game/song", "https://1234.discordsays.com/",
        "https://html5.gamepix.com/song", "https://www.crazygames.com/game/song", "https://playmusic.gg/play/song", ""];
    string[] countries = ["DE", "US", "BR", "FR", "IN", "JP"];
    string[] tiers = ["low", "mid", "high"];
    var results = new List<(bool, double)>(4);
    var referrer = referrers[random.Next(referrers.Length)];
    var country = countries[random.Next(countries.Length)];
    var tier = tiers[random.Next(tiers.Length)];
    var loadId = Guid.NewGuid();

    if (random.Next(4) == 0)
    {
        // A load that never reached a session: what sendBeacon posts on pagehide.
        var beacon = JsonSerializer.Serialize(new { loadId, gameId = "bench-song", referrer, stage = "assets", elapsedMs = random.Next(500, 20000), country, deviceTier = tier });
        results.Add(await TimedAsync(() => http.PostAsync("/api/beacon/dropout", new StringContent(beacon, Encoding.UTF8, "text/plain")), HttpStatusCode.NoContent));
        return results;
    }

    using var start = new HttpRequestMessage(HttpMethod.Post, "/api/sessions")
    {
        Content = Json(new { gameId = $"bench-song-{random.Next(5)}", mode = "runner", loadId, referrer, country, deviceTier = tier, engineVersion = "bench" }),
    };
    start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    var watch = Stopwatch.StartNew();
    using var started = await http.SendAsync(start);
    results.Add((started.StatusCode == HttpStatusCode.Created, watch.Elapsed.TotalMilliseconds));
    if (started.StatusCode != HttpStatusCode.Created)
    {
        return results;
    }

    var session = await started.Content.ReadFromJsonAsync<JsonElement>();
    var path = $"/api/sessions/{session.GetProperty("sessionId").GetString()}";
    var perfToken = session.GetProperty("perfToken").GetString()!;
    var steps = new { download = LogNormal(random, 900), config = LogNormal(random, 60), assets = LogNormal(random, 2500), audio = LogNormal(random, 700) };
    results.Add(await TimedAsync(() => Post(http, path + "/perf", perfToken, new { steps, gatewayMs = LogNormal(random, 40) }), HttpStatusCode.Accepted));
    var completed = random.NextDouble() < completedShare;
    results.Add(await TimedAsync(() => Post(http, path + "/end", perfToken, new { score = random.Next(100000), durationMs = random.Next(30000, 200000), completed }), HttpStatusCode.Accepted));
    return results;
}

static async Task<List<(bool Ok, double Ms)>> HealthzAsync(HttpClient http) =>
    [await TimedAsync(() => http.GetAsync("/healthz"), HttpStatusCode.OK)];

static Task<HttpResponseMessage> Post(HttpClient http, string path, string perfToken, object body)
{
    var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
    request.Headers.Add("X-Perf-Token", perfToken);
    return http.SendAsync(request);
}

// What the engine's fetch(…, { body: JSON.stringify(…) }) sends: a body with a Content-Length
// (JsonContent would send it chunked, which costs the server extra reads and parsing).
static ByteArrayContent Json(object body)
{
    var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, JsonSerializerOptions.Web));
    content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
    return content;
}

static async Task<(bool Ok, double Ms)> TimedAsync(Func<Task<HttpResponseMessage>> send, HttpStatusCode expected)
{
    var watch = Stopwatch.StartNew();
    using var response = await send();
    await response.Content.LoadIntoBufferAsync();
    return (response.StatusCode == expected, watch.Elapsed.TotalMilliseconds);
}

static int LogNormal(Random random, double median)
{
    var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
    return (int)Math.Min(600_000, median * Math.Exp(0.6 * normal));
}

static double Percentile(double[] sorted, double fraction) =>
    sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Length) - 1, 0, sorted.Length - 1)];

/// <summary>The machine's 1-minute load average (Linux): other work on the machine skews every figure.</summary>
static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

/// <summary>User + system CPU time of the server process, from /proc (Linux).</summary>
static TimeSpan? ServerCpu(int? pid) => pid is null ? null : TimeSpan.FromSeconds(CpuTicks(pid.Value, children: false) / 100.0); // USER_HZ is 100

/// <summary>
/// CPU time of a PostgreSQL server: the postmaster (with its exited children) plus every live
/// backend and auxiliary process it started.
/// </summary>
static TimeSpan? DatabaseCpu(int? postmaster)
{
    if (postmaster is null)
    {
        return null;
    }

    var ticks = CpuTicks(postmaster.Value, children: true);
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        if (int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid) && StatFields(pid) is { } fields
            && fields[1] == postmaster.Value.ToString(CultureInfo.InvariantCulture))
        {
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
    }

    return TimeSpan.FromSeconds(ticks / 100.0);
}

static long CpuTicks(int pid, bool children)
{
    var fields = StatFields(pid) ?? throw new InvalidOperationException($"process {pid} is gone");
    var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    return children ? ticks + long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture) : ticks;
}

/// <summary>/proc/pid/stat after the command name (field 0 = state, 1 = ppid, 11/12 = utime/stime, 13/14 = children's).</summary>
static string[]? StatFields(int pid)
{
    try
    {
        return File.ReadAllText($"/proc/{pid}/stat").Split(')')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }
    catch (IOException)
    {
        return null;
    }
}

internal sealed record Result(double PerSecond);

internal sealed record Options(
    string Url, int Seconds, int WarmupSeconds, int Concurrency, int? ServerPid, int? DatabasePid, double CompletedShare, string? DashboardToken,
    int Rounds)
{
    public static Options Parse(string[] args)
    {
        string? Value(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        return new Options(
            Value("--url") ?? "http://127.0.0.1:5080",
            int.Parse(Value("--seconds") ?? "10", CultureInfo.InvariantCulture),
            int.Parse(Value("--warmup") ?? "5", CultureInfo.InvariantCulture),
            int.Parse(Value("--concurrency") ?? "32", CultureInfo.InvariantCulture),
            Value("--server-pid") is { } pid ? int.Parse(pid, CultureInfo.InvariantCulture) : null,
            Value("--db-pid") is { } db ? int.Parse(db, CultureInfo.InvariantCulture) : null,
            double.Parse(Value("--completed") ?? "0.5", CultureInfo.InvariantCulture),
            Value("--dashboard-token"),
            int.Parse(Value("--rounds") ?? "3", CultureInfo.InvariantCulture));
    }
}
