using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using NpgsqlTypes;
using PlayMusic.Competitions;
using PlayMusic.Grains.Competitions;
using PlayMusic.Hosting;
using StackExchange.Redis;

// Leaderboard benchmark: one board with ENTRIES players, score submissions and rank / around-me
// queries through the board grain (in-process silo on PLAYMUSIC_DB), then the same load with the
// same client concurrency on a Redis sorted set (REDIS=host:port). Run through run.sh.
var entries = int.Parse(Environment.GetEnvironmentVariable("ENTRIES") ?? "1000000");
var concurrency = int.Parse(Environment.GetEnvironmentVariable("CONCURRENCY") ?? "32");
var phase = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("PHASE_SECONDS") ?? "8"));
var database = Environment.GetEnvironmentVariable("PLAYMUSIC_DB") ?? throw new InvalidOperationException("set PLAYMUSIC_DB");
var redisEndpoint = Environment.GetEnvironmentVariable("REDIS") ?? throw new InvalidOperationException("set REDIS=host:port");
var redisAlwaysEndpoint = Environment.GetEnvironmentVariable("REDIS_ALWAYS"); // optional: a Redis with appendfsync always
var postgresCpu = new ServerCpu(Environment.GetEnvironmentVariable("PG_PID"));
var redisCpu = new ServerCpu(Environment.GetEnvironmentVariable("REDIS_PID"));
var redisAlwaysCpu = new ServerCpu(Environment.GetEnvironmentVariable("REDIS_ALWAYS_PID"));
const string Board = "game/bench/global";
const string RedisKey = "bench:global";
var players = Enumerable.Range(0, entries).Select(i => $"player-{i:D7}").ToArray();

Console.WriteLine($"entries={entries:N0} concurrency={concurrency} phase={phase.TotalSeconds}s cores={Environment.ProcessorCount} load average {Load.Average()}");

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["PLAYMUSIC_DB"] = database,
    ["PLAYMUSIC_SILO_PORT"] = Environment.GetEnvironmentVariable("SILO_PORT") ?? "11499",
    ["PLAYMUSIC_GATEWAY_PORT"] = Environment.GetEnvironmentVariable("GATEWAY_PORT") ?? "30499",
    ["Logging:LogLevel:Default"] = "Warning",
    // By default compaction is measured on its own below (at deactivation), not mixed into the phases;
    // COMPACT_SECONDS=30 (the service default) with a long PHASE_SECONDS measures submissions sustained with it.
    ["PLAYMUSIC_LEADERBOARD_COMPACT_SECONDS"] = Environment.GetEnvironmentVariable("COMPACT_SECONDS") ?? "3600",
});
builder.AddPlayMusicDatabase();
builder.AddPlayMusicSilo();
builder.AddPlayMusicCompetitions();
using var host = builder.Build();
await host.StartAsync();
var grains = host.Services.GetRequiredService<IGrainFactory>();
var dataSource = host.Services.GetRequiredService<NpgsqlDataSource>();

// Seed the table directly (COPY), then let the grain rebuild from it, as it does on activation.
var seeded = Stopwatch.StartNew();
var random = new Random(7);
await using (var connection = await dataSource.OpenConnectionAsync())
{
    await using var truncate = new NpgsqlCommand("DELETE FROM leaderboard_entries WHERE board = $1", connection) { Parameters = { new() { Value = Board } } };
    await truncate.ExecuteNonQueryAsync();
    await using var import = await connection.BeginBinaryImportAsync(
        "COPY leaderboard_entries (board, player_id, display_name, score, achieved_at) FROM STDIN (FORMAT BINARY)");
    foreach (var player in players)
    {
        await import.StartRowAsync();
        await import.WriteAsync(Board, NpgsqlDbType.Text);
        await import.WriteAsync(player, NpgsqlDbType.Text);
        await import.WriteAsync(player, NpgsqlDbType.Text);
        await import.WriteAsync((long)random.Next(1_000_000), NpgsqlDbType.Bigint);
        await import.WriteAsync(1_700_000_000_000L + random.Next(1_000_000), NpgsqlDbType.Bigint);
    }

    await import.CompleteAsync();
}

Console.WriteLine($"seeded PostgreSQL with {entries:N0} rows in {seeded.Elapsed.TotalSeconds:F1} s");

// A board this size in production was vacuumed long ago; without this, autovacuum (triggered by the
// COPY) would compete with the submissions and be counted as PostgreSQL's CPU per submission.
var vacuumed = Stopwatch.StartNew();
await using (var vacuum = dataSource.CreateCommand("VACUUM (ANALYZE) leaderboard_entries"))
{
    await vacuum.ExecuteNonQueryAsync();
}

Console.WriteLine($"VACUUM (ANALYZE) took {vacuumed.Elapsed.TotalSeconds:F1} s");
var board = grains.GetGrain<ILeaderboardGrain>(Board);
var submitter = host.Services.GetRequiredService<LeaderboardSubmitter>();
var activation = Stopwatch.StartNew();
var first = await board.GetPageAsync(new LeaderboardQuery(10, players[0], false));
Console.WriteLine($"grain activation (rebuild of {first.Total:N0} entries from PostgreSQL) took {activation.Elapsed.TotalSeconds:F1} s");

// A board this size in production was activated long ago: promote the rebuild's allocations now rather
// than in the first collection of a measured phase (a ~200 ms pause was seen there).
GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);

await using var redis = await ConnectionMultiplexer.ConnectAsync(redisEndpoint);
var db = redis.GetDatabase();
await db.KeyDeleteAsync(RedisKey);
seeded.Restart();
foreach (var chunk in players.Chunk(1_000))
{
    await db.SortedSetAddAsync(RedisKey, chunk.Select(p => new SortedSetEntry(p, random.Next(1_000_000))).ToArray());
}

Console.WriteLine($"seeded Redis with {await db.SortedSetLengthAsync(RedisKey):N0} members in {seeded.Elapsed.TotalSeconds:F1} s");

// Every submission beats the player's best (scores above anything seeded), so every one is a durable write.
long nextScore = 2_000_000, nextRedisScore = 2_000_000;
var (batches, written, compactionSeconds) = (0L, 0L, 0.0);
using var batchListener = new MeterListener
{
    InstrumentPublished = (instrument, listener) =>
    {
        if (instrument.Name is LeaderboardMetrics.WriteBatchSizeName or LeaderboardMetrics.CompactionDurationName)
        {
            listener.EnableMeasurementEvents(instrument);
        }
    },
};
batchListener.SetMeasurementEventCallback<int>((_, size, _, _) =>
{
    Interlocked.Increment(ref batches);
    Interlocked.Add(ref written, size);
});
batchListener.SetMeasurementEventCallback<double>((_, seconds, _, _) => compactionSeconds += seconds);
batchListener.Start();
// Submissions run in ROUNDS pairs (grain, then Redis ZADD, same concurrency) and the ratio is taken per
// pair: this machine's speed drifts by ±15 % within a minute, for both sides, so the two halves of a
// ratio are measured seconds apart rather than a minute apart.
var rounds = int.Parse(Environment.GetEnvironmentVariable("ROUNDS") ?? "3");
var (grainSubmits, redisSubmits) = (new List<LoadResult>(), new List<LoadResult>());
for (var round = 1; round <= rounds; round++)
{
    grainSubmits.Add(await Load.RunAsync($"grain submit #{round}", concurrency, phase, postgresCpu, async rng =>
    {
        var player = players[rng.Next(entries)];
        await submitter.SubmitAsync(Board, new ScoreSubmission(player, player, Interlocked.Increment(ref nextScore), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }));
    redisSubmits.Add(await Load.RunAsync($"redis ZADD GT #{round}", concurrency, phase, redisCpu, async rng =>
        await db.SortedSetAddAsync(RedisKey, players[rng.Next(entries)], Interlocked.Increment(ref nextRedisScore), SortedSetWhen.GreaterThan)));
}

Console.WriteLine($"  {batches:N0} log appends (commits) for {written:N0} entries: {written / (double)Math.Max(1, batches):F1} per commit (group commit)");
var grainRank = await Load.RunAsync("grain rank", concurrency, phase, postgresCpu, async rng =>
    await board.GetPageAsync(new LeaderboardQuery(1, players[rng.Next(entries)], false)));
var grainAround = await Load.RunAsync("grain around-me (10)", concurrency, phase, postgresCpu, async rng =>
    await board.GetPageAsync(new LeaderboardQuery(10, players[rng.Next(entries)], true)));

// Stopping the silo deactivates the board, which folds what the submit phases left in the log into
// leaderboard_entries: the deferred part of the submissions' cost, measured here. (With COMPACT_SECONDS
// shorter than the phases, compactions also ran during them, and their cost is inside the phase figures.)
var compactionSecondsInPhases = compactionSeconds;
long leftInLog;
await using (var count = dataSource.CreateCommand("SELECT coalesce(sum(cardinality(player_ids)), 0) FROM leaderboard_log WHERE board = $1"))
{
    count.Parameters.AddWithValue(Board);
    leftInLog = (long)(await count.ExecuteScalarAsync())!;
}

var pgBeforeCompaction = postgresCpu.Seconds();
await host.StopAsync();
batchListener.Dispose();
var compactionPgCpu = postgresCpu.Seconds() - pgBeforeCompaction;
var finalCompactionSeconds = compactionSeconds - compactionSecondsInPhases;
if (compactionSecondsInPhases > 0)
{
    Console.WriteLine($"  compactions run by the board's timer while the phases ran: {compactionSecondsInPhases:F2} s in all (inside the phase figures)");
}

Console.WriteLine($"  compaction of what the submit phases left in the log ({leftInLog:N0} of {written:N0} entries): {finalCompactionSeconds:F2} s, "
    + $"PostgreSQL CPU {compactionPgCpu:F2} s ({compactionPgCpu * 1e6 / Math.Max(1, leftInLog):F1} µs per entry)");

var redisRank = await Load.RunAsync("redis ZREVRANK", concurrency, phase, redisCpu, async rng =>
    await db.SortedSetRankAsync(RedisKey, players[rng.Next(entries)], Order.Descending));
var redisAround = await Load.RunAsync("redis ZREVRANK+ZREVRANGE (10)", concurrency, phase, redisCpu, async rng =>
{
    var rank = (await db.SortedSetRankAsync(RedisKey, players[rng.Next(entries)], Order.Descending))!.Value;
    var start = Math.Max(0, rank - 4);
    await db.SortedSetRangeByRankWithScoresAsync(RedisKey, start, start + 9, Order.Descending);
});

// The required comparison is the default Redis above; this one acknowledges only after an fsync, as the grain does.
LoadResult? redisAlwaysSubmit = null;
if (redisAlwaysEndpoint is not null)
{
    await using var redisAlways = await ConnectionMultiplexer.ConnectAsync(redisAlwaysEndpoint);
    var always = redisAlways.GetDatabase();
    await always.KeyDeleteAsync(RedisKey);
    foreach (var chunk in players.Chunk(1_000))
    {
        await always.SortedSetAddAsync(RedisKey, chunk.Select(p => new SortedSetEntry(p, random.Next(1_000_000))).ToArray());
    }

    nextScore = 2_000_000;
    redisAlwaysSubmit = await Load.RunAsync("redis ZADD GT (appendfsync always)", concurrency, phase, redisAlwaysCpu, async rng =>
        await always.SortedSetAddAsync(RedisKey, players[rng.Next(entries)], Interlocked.Increment(ref nextScore), SortedSetWhen.GreaterThan));
}

Console.WriteLine();
Console.WriteLine($"{"operation",-36} {"ops/s",10} {"p50 ms",8} {"p99 ms",8} {"bench µs/op",12} {"server µs/op",13}");
foreach (var result in grainSubmits.Concat(redisSubmits).Concat([grainRank, grainAround, redisRank, redisAround, redisAlwaysSubmit]))
{
    if (result is not null)
    {
        Console.WriteLine($"{result.Name,-36} {result.PerSecond,10:N0} {result.P50,8:F3} {result.P99,8:F3} {result.BenchCpuMicros,12:F1} {result.ServerCpuMicros,13:F1}");
    }
}

Console.WriteLine("(bench µs/op: CPU of this process per operation: client loops, plus the silo for grain rows; server: PostgreSQL or redis-server)");
Console.WriteLine($"load average {Load.Average()}");
var (grainCount, grainSeconds) = (grainSubmits.Sum(r => r.Count), grainSubmits.Sum(r => r.Count / r.PerSecond));
var grainPerSecond = grainCount / grainSeconds;
var redisPerSecond = redisSubmits.Sum(r => r.Count) / redisSubmits.Sum(r => r.Count / r.PerSecond);
var ratios = grainSubmits.Zip(redisSubmits, (g, r) => g.PerSecond / r.PerSecond).ToList();
var submitWithCompaction = grainCount / (grainSeconds + finalCompactionSeconds);
Console.WriteLine($"grain submit with its deferred compaction time added: {submitWithCompaction:N0}/s (grain/redis {submitWithCompaction / redisPerSecond:F2})");
Console.WriteLine($"submit throughput grain/redis = {ratios.Order().ElementAt(ratios.Count / 2):F2} median of {ratios.Count} paired rounds "
    + $"({string.Join(", ", ratios.Select(r => r.ToString("F2")))}; all rounds {grainPerSecond:N0}/s against {redisPerSecond:N0}/s) (target >= 0.5)"
    + (redisAlwaysSubmit is null ? "" : $"; grain/redis(appendfsync always) = {grainPerSecond / redisAlwaysSubmit.PerSecond:F2}"));
Console.WriteLine($"rank p99 grain = {grainRank.P99:F3} ms (target <= 2 ms); around-me p99 grain = {grainAround.P99:F3} ms");
Console.WriteLine($"rank throughput grain/redis = {grainRank.PerSecond / redisRank.PerSecond:F2}; around-me grain/redis = {grainAround.PerSecond / redisAround.PerSecond:F2}");

internal sealed record LoadResult(string Name, long Count, double PerSecond, double P50, double P99, double BenchCpuMicros, double ServerCpuMicros);

internal static class Load
{
    public static string Average() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>How long each phase runs unmeasured first, so that tiered JIT and pools settle (WARMUP_SECONDS, default 2).</summary>
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("WARMUP_SECONDS") ?? "2"));

    /// <summary><paramref name="concurrency"/> loops, each awaiting one operation at a time, for <see cref="Warmup"/> then <paramref name="duration"/> (measured).</summary>
    public static async Task<LoadResult> RunAsync(string name, int concurrency, TimeSpan duration, ServerCpu server, Func<Random, Task> operation)
    {
        await Loops(concurrency, Warmup, operation, latencies: null);
        var latencies = new List<double>[concurrency];
        var benchCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var serverCpu = server.Seconds();
        var (gen0, gen1, gen2, paused) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        await Loops(concurrency, duration, operation, latencies);
        var elapsed = clock.Elapsed.TotalSeconds;
        var benchMicros = (Process.GetCurrentProcess().TotalProcessorTime - benchCpu).TotalMicroseconds;
        var serverMicros = (server.Seconds() - serverCpu) * 1e6;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        var result = new LoadResult(name, all.Length, all.Length / elapsed, all[all.Length / 2], all[(int)(all.Length * 0.99)],
            benchMicros / all.Length, serverMicros / all.Length);
        Console.WriteLine($"  {name}: {all.Length:N0} ops in {elapsed:F1} s (load average {Average()}); GCs gen0/1/2 "
            + $"{GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}, paused {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:F0} ms, "
            + $"allocated {(GC.GetTotalAllocatedBytes() - allocated) / (double)all.Length:F0} B/op");
        return result;
    }

    private static Task Loops(int concurrency, TimeSpan duration, Func<Random, Task> operation, List<double>[]? latencies)
    {
        var clock = Stopwatch.StartNew();
        return Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var rng = new Random(worker + (latencies is null ? 1_000 : 0));
            var mine = new List<double>(100_000);
            if (latencies is not null)
            {
                latencies[worker] = mine;
            }

            while (clock.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                await operation(rng);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        })));
    }
}

/// <summary>CPU seconds used so far by a server process and its children (PostgreSQL's backends), read from /proc.</summary>
internal sealed class ServerCpu(string? pid)
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    public double Seconds()
    {
        if (pid is null || !Directory.Exists($"/proc/{pid}"))
        {
            return 0;
        }

        double ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                // Fields after the ")" that ends the command name: state ppid ... utime(12) stime(13) cutime(14) cstime(15).
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (Path.GetFileName(dir) == pid || fields[1] == pid)
                {
                    ticks += long.Parse(fields[11]) + long.Parse(fields[12]) + long.Parse(fields[13]) + long.Parse(fields[14]);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                // The process ended meanwhile or is not ours to read.
            }
        }

        return ticks / TicksPerSecond;
    }
}
