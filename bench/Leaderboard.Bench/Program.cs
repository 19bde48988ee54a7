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
const string Board = "game/bench/global";
const string RedisKey = "bench:global";
var players = Enumerable.Range(0, entries).Select(i => $"player-{i:D7}").ToArray();

Console.WriteLine($"entries={entries:N0} concurrency={concurrency} phase={phase.TotalSeconds}s cores={Environment.ProcessorCount}");

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["PLAYMUSIC_DB"] = database,
    ["PLAYMUSIC_SILO_PORT"] = Environment.GetEnvironmentVariable("SILO_PORT") ?? "11499",
    ["PLAYMUSIC_GATEWAY_PORT"] = Environment.GetEnvironmentVariable("GATEWAY_PORT") ?? "30499",
    ["Logging:LogLevel:Default"] = "Warning",
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
var board = grains.GetGrain<ILeaderboardGrain>(Board);
var activation = Stopwatch.StartNew();
var first = await board.GetPageAsync(new LeaderboardQuery(10, players[0], false));
Console.WriteLine($"grain activation (rebuild of {first.Total:N0} entries from PostgreSQL) took {activation.Elapsed.TotalSeconds:F1} s");

// Every submission beats the player's best (scores above anything seeded), so every one is a durable write.
long nextScore = 2_000_000;
var (batches, written) = (0L, 0L);
using var batchListener = new MeterListener
{
    InstrumentPublished = (instrument, listener) =>
    {
        if (instrument.Name == LeaderboardMetrics.WriteBatchSizeName)
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
batchListener.Start();
var grainSubmit = await Load.RunAsync("grain submit", concurrency, phase, async rng =>
{
    var player = players[rng.Next(entries)];
    await board.SubmitAsync(new ScoreSubmission(player, player, Interlocked.Increment(ref nextScore), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
});
batchListener.Dispose();
Console.WriteLine($"  {batches:N0} board upserts (commits) for {written:N0} entries: {written / (double)Math.Max(1, batches):F1} per commit (group commit)");
var grainRank = await Load.RunAsync("grain rank", concurrency, phase, async rng =>
    await board.GetPageAsync(new LeaderboardQuery(1, players[rng.Next(entries)], false)));
var grainAround = await Load.RunAsync("grain around-me (10)", concurrency, phase, async rng =>
    await board.GetPageAsync(new LeaderboardQuery(10, players[rng.Next(entries)], true)));
await host.StopAsync();

await using var redis = await ConnectionMultiplexer.ConnectAsync(redisEndpoint);
var db = redis.GetDatabase();
await db.KeyDeleteAsync(RedisKey);
seeded.Restart();
foreach (var chunk in players.Chunk(1_000))
{
    await db.SortedSetAddAsync(RedisKey, chunk.Select(p => new SortedSetEntry(p, random.Next(1_000_000))).ToArray());
}

Console.WriteLine($"seeded Redis with {await db.SortedSetLengthAsync(RedisKey):N0} members in {seeded.Elapsed.TotalSeconds:F1} s");
nextScore = 2_000_000;
var redisSubmit = await Load.RunAsync("redis ZADD GT", concurrency, phase, async rng =>
    await db.SortedSetAddAsync(RedisKey, players[rng.Next(entries)], Interlocked.Increment(ref nextScore), SortedSetWhen.GreaterThan));
var redisRank = await Load.RunAsync("redis ZREVRANK", concurrency, phase, async rng =>
    await db.SortedSetRankAsync(RedisKey, players[rng.Next(entries)], Order.Descending));
var redisAround = await Load.RunAsync("redis ZREVRANK+ZREVRANGE (10)", concurrency, phase, async rng =>
{
    var rank = (await db.SortedSetRankAsync(RedisKey, players[rng.Next(entries)], Order.Descending))!.Value;
    var start = Math.Max(0, rank - 4);
    await db.SortedSetRangeByRankWithScoresAsync(RedisKey, start, start + 9, Order.Descending);
});

Console.WriteLine();
Console.WriteLine($"{"operation",-32} {"ops/s",10} {"p50 ms",8} {"p99 ms",8}");
foreach (var result in new[] { grainSubmit, grainRank, grainAround, redisSubmit, redisRank, redisAround })
{
    Console.WriteLine($"{result.Name,-32} {result.PerSecond,10:N0} {result.P50,8:F3} {result.P99,8:F3}");
}

Console.WriteLine();
Console.WriteLine($"submit throughput grain/redis = {grainSubmit.PerSecond / redisSubmit.PerSecond:F2} (target >= 0.5)");
Console.WriteLine($"rank p99 grain = {grainRank.P99:F3} ms (target <= 2 ms); around-me p99 grain = {grainAround.P99:F3} ms");
Console.WriteLine($"rank throughput grain/redis = {grainRank.PerSecond / redisRank.PerSecond:F2}; around-me grain/redis = {grainAround.PerSecond / redisAround.PerSecond:F2}");

internal sealed record LoadResult(string Name, long Count, double PerSecond, double P50, double P99);

internal static class Load
{
    /// <summary><paramref name="concurrency"/> loops, each awaiting one operation at a time, for <paramref name="duration"/>.</summary>
    public static async Task<LoadResult> RunAsync(string name, int concurrency, TimeSpan duration, Func<Random, Task> operation)
    {
        var latencies = new List<double>[concurrency];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var rng = new Random(worker);
            var mine = latencies[worker] = new List<double>(100_000);
            while (clock.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                await operation(rng);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        })));
        var elapsed = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        var result = new LoadResult(name, all.Length, all.Length / elapsed, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
        Console.WriteLine($"  {name}: {all.Length:N0} ops in {elapsed:F1} s");
        return result;
    }
}
