using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using System.Diagnostics.Tracing;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Extensions.DependencyInjection;
using PlayMusic.Rooms;

// Load generator for /hubs/game (see docs/benchmarks.md): R rooms × (2 players sending inputs at 30 Hz +
// 1 spectator), all over MessagePack. Prints input→observed latency, delivery ratio, the server's tick lag
// p99 (from /metrics), server CPU s/s and RSS (from /proc/<pid>), and this driver's CPU.
//   dotnet PlayMusic.Rooms.Bench.dll --url http://127.0.0.1:5180 --server-pid 1234 --rooms 50,100 --seconds 15
// With --idle-lobbies N it instead measures server memory per idle lobby: N connections, then one lobby each.
// With --floor websocket|signalr it drives bench/Rooms.Floor instead (same message pattern): what the transport
// alone costs, raw WebSockets or SignalR with MessagePack, without Orleans or game rules.
var options = Args.Parse(args);
if (options.IdleLobbies > 0)
{
    await MeasureIdleLobbiesAsync(options);
    return;
}

foreach (var rooms in options.Rooms)
{
    await RunAsync(options, rooms);
}

// Server memory per idle lobby: the live managed heap after a full GC (induced over EventPipe, as dotnet-gcdump
// does) and RSS, with N host connections open, then after each has created a lobby. The difference is what the
// lobby rooms themselves cost (grain, state, registry, groups); the total includes their connections.
static async Task MeasureIdleLobbiesAsync(Args options)
{
    using var http = new HttpClient { BaseAddress = options.Url };
    var pid = options.ServerPid ?? throw new InvalidOperationException("--idle-lobbies needs --server-pid");
    var baseline = await ServerMemory.SettledAsync(http, pid);
    var hosts = new List<HubConnection>();
    for (var i = 0; i < options.IdleLobbies; i++)
    {
        hosts.Add(await BenchRoom.ConnectAsync(http, options.Url, $"idle{i}"));
    }

    var connected = await ServerMemory.SettledAsync(http, pid);
    foreach (var host in hosts)
    {
        await host.InvokeAsync<RoomJoined>("CreateRoom",
            new Dictionary<string, object> { ["mode"] = "runner", ["songId"] = "idle", ["songDurationMs"] = 180_000, ["maxPlayers"] = 4, ["isPrivate"] = true });
    }

    var lobbies = await ServerMemory.SettledAsync(http, pid);
    double PerLobby(long after, long before) => (after - before) / 1024.0 / options.IdleLobbies;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"idle_lobbies={options.IdleLobbies} heap_mib baseline={baseline.HeapBytes / 1048576.0:F1} connected={connected.HeapBytes / 1048576.0:F1} lobbies={lobbies.HeapBytes / 1048576.0:F1} " +
        $"rss_mib baseline={baseline.RssBytes / 1048576.0:F0} connected={connected.RssBytes / 1048576.0:F0} lobbies={lobbies.RssBytes / 1048576.0:F0}\n" +
        $"  per connection: heap {PerLobby(connected.HeapBytes, baseline.HeapBytes):F1} KiB, rss {PerLobby(connected.RssBytes, baseline.RssBytes):F1} KiB\n" +
        $"  per lobby room: heap {PerLobby(lobbies.HeapBytes, connected.HeapBytes):F1} KiB, rss {PerLobby(lobbies.RssBytes, connected.RssBytes):F1} KiB\n" +
        $"  per lobby with its host connection: heap {PerLobby(lobbies.HeapBytes, baseline.HeapBytes):F1} KiB, rss {PerLobby(lobbies.RssBytes, baseline.RssBytes):F1} KiB"));
    foreach (var host in hosts)
    {
        await host.DisposeAsync();
    }
}

static async Task RunAsync(Args options, int roomCount)
{
    using var http = new HttpClient { BaseAddress = options.Url };
    var rooms = new List<DrivenRoom>();
    for (var i = 0; i < roomCount; i++)
    {
        rooms.Add(options.Floor switch
        {
            "websocket" => await FloorRoomClient.StartAsync(options.Url, i),
            "signalr" => await BenchRoom.JoinFloorAsync(options.Url, i),
            _ => await BenchRoom.StartAsync(http, options.Url, i),
        });
    }

    await Task.WhenAll(rooms.Select(r => r.WaitRunningAsync()));

    // Unmeasured play first: the server's tiered JIT (and its dynamic-PGO instrumented tier, which
    // perf showed costing a fifth of the CPU while it lasts) settles under this load.
    using (var warmup = new CancellationTokenSource(TimeSpan.FromSeconds(options.WarmupSeconds)))
    {
        await Task.WhenAll(rooms.Select(r => r.SendInputsAsync(warmup.Token)));
    }

    foreach (var room in rooms)
    {
        room.ResetCounters();
    }

    // The floor server has no metrics: its tick lag is not measured.
    var lagBefore = options.Floor is not null ? null : await Histogram.ScrapeAsync(http, "playmusic_room_tick_lag");
    var serverBefore = ProcessStats.Read(options.ServerPid);
    var driverBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.Seconds));
    await Task.WhenAll(rooms.Select(r => r.SendInputsAsync(stop.Token)));
    var elapsed = clock.Elapsed.TotalSeconds;
    var driverCpu = (Process.GetCurrentProcess().TotalProcessorTime - driverBefore).TotalSeconds / elapsed;
    var serverAfter = ProcessStats.Read(options.ServerPid);
    var lag = lagBefore is null ? null : (await Histogram.ScrapeAsync(http, "playmusic_room_tick_lag")).Minus(lagBefore);

    var latencies = rooms.SelectMany(r => r.Latencies()).Order().ToArray();
    var receivers = roomCount * 3;
    var delivery = rooms.Sum(r => r.TicksReceived) / (receivers * elapsed * 30);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{(options.Floor is null ? "" : $"floor={options.Floor} ")}rooms={roomCount} connections={receivers} seconds={elapsed:F1} samples={latencies.Length} " +
        $"latency_ms p50={Pct(latencies, 0.50):F1} p95={Pct(latencies, 0.95):F1} p99={Pct(latencies, 0.99):F1} max={latencies.LastOrDefault():F1} " +
        $"delivery={delivery:F3} tick_lag_p99_ms<={lag?.Quantile(0.99)} " +
        $"server_cpu_s_per_s={(serverBefore is null ? double.NaN : (serverAfter!.CpuSeconds - serverBefore.CpuSeconds) / elapsed):F2} " +
        $"server_rss_mib={(serverAfter?.RssKiB ?? 0) / 1024.0:F0} driver_cpu_s_per_s={driverCpu:F2}"));

    await Task.WhenAll(rooms.Select(r => r.DisposeAsync().AsTask()));
}

static double Pct(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

sealed record Args(Uri Url, int? ServerPid, int[] Rooms, int Seconds, int WarmupSeconds, int IdleLobbies, string? Floor)
{
    public static Args Parse(string[] args)
    {
        string Get(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var pid = Get("--server-pid", "");
        return new Args(
            new Uri(Get("--url", "http://127.0.0.1:5180")),
            pid.Length > 0 ? int.Parse(pid, CultureInfo.InvariantCulture) : null,
            [.. Get("--rooms", "10").Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture))],
            int.Parse(Get("--seconds", "15"), CultureInfo.InvariantCulture),
            int.Parse(Get("--warmup", "15"), CultureInfo.InvariantCulture),
            int.Parse(Get("--idle-lobbies", "0"), CultureInfo.InvariantCulture),
            Get("--floor", "") is { Length: > 0 } floor ? floor : null);
    }
}

/// <summary>
/// One driven room: two players sending inputs at 30 Hz and a spectator, each receiver recording when it
/// first saw the other seats' seq in a tick.
/// </summary>
abstract class DrivenRoom : IAsyncDisposable
{
    private const int Window = 4096;
    private readonly long[][] _sentAt = [new long[Window], new long[Window]];
    private readonly List<double> _latencies = [];
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _ticks;
    private long _seq;

    public long TicksReceived => Interlocked.Read(ref _ticks);

    public abstract Task WaitRunningAsync();

    public abstract ValueTask DisposeAsync();

    /// <summary>Sends one input of a player seat, without waiting for it to be written.</summary>
    protected abstract void SendInput(int seat, long seq, long songTimeMs);

    public void ResetCounters()
    {
        lock (_latencies)
        {
            _latencies.Clear();
            Interlocked.Exchange(ref _ticks, 0);
        }
    }

    public IEnumerable<double> Latencies()
    {
        lock (_latencies)
        {
            return [.. _latencies];
        }
    }

    public async Task SendInputsAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromTicks(TimeSpan.TicksPerSecond / 30));
        while (await timer.WaitForNextTickAsync(CancellationToken.None) && !stop.IsCancellationRequested)
        {
            var seq = ++_seq; // continues across calls (warm-up, then measurement): seq and score only ever grow
            var songTimeMs = (long)Stopwatch.GetElapsedTime(_started).TotalMilliseconds;
            for (var seat = 0; seat < 2; seat++)
            {
                Volatile.Write(ref _sentAt[seat][seq % Window], Stopwatch.GetTimestamp());
                SendInput(seat, seq, songTimeMs);
            }
        }
    }

    protected void TickReceived() => Interlocked.Increment(ref _ticks);

    /// <summary>A receiver saw a seat's seq in a delta tick: players observe the other seat, the spectator both.</summary>
    protected void Observed(int receiver, int seat, long seq, long now)
    {
        if (seat == receiver || seq == 0)
        {
            return;
        }

        var sent = Volatile.Read(ref _sentAt[seat][seq % Window]);
        if (sent != 0)
        {
            lock (_latencies)
            {
                _latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
            }
        }
    }
}

/// <summary>A room of the real hub (/hubs/game, MessagePack).</summary>
sealed class BenchRoom : DrivenRoom
{
    private readonly HubConnection[] _connections;
    private readonly TaskCompletionSource _running = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BenchRoom(HubConnection[] connections) => _connections = connections;

    public static async Task<BenchRoom> StartAsync(HttpClient http, Uri url, int index)
    {
        var connections = new HubConnection[3];
        for (var i = 0; i < 3; i++)
        {
            connections[i] = await BuildAsync(http, url, $"bench{index}-{i}");
        }

        var room = new BenchRoom(connections);
        for (var i = 0; i < 3; i++)
        {
            var receiver = i;
            connections[i].On<TickEvent>("Tick", tick => room.OnTick(receiver, tick));
            connections[i].On<RoomView>("RoomState", view =>
            {
                if (view.State == RoomPhase.Running)
                {
                    room._running.TrySetResult();
                }
            });
            await connections[i].StartAsync();
        }

        var joined = await connections[0].InvokeAsync<RoomJoined>("CreateRoom",
            new Dictionary<string, object> { ["mode"] = "runner", ["songId"] = "bench", ["songDurationMs"] = 1_200_000, ["maxPlayers"] = 2, ["isPrivate"] = true });
        var roomId = joined.Room.RoomId;
        await connections[1].InvokeAsync<RoomJoined>("JoinRoom", new Dictionary<string, object> { ["roomId"] = roomId });
        await connections[2].InvokeAsync<SpectatorJoined>("Spectate", new Dictionary<string, object> { ["roomId"] = roomId });
        foreach (var player in connections[..2])
        {
            await player.InvokeAsync<RoomView>("SetReady", new Dictionary<string, object> { ["ready"] = true, ["configLoaded"] = true });
        }

        return room;
    }

    /// <summary>A room of bench/Rooms.Floor's hub: the same SendInput and Tick, without accounts or room rules.</summary>
    public static async Task<BenchRoom> JoinFloorAsync(Uri url, int index)
    {
        var connections = new HubConnection[3];
        var room = new BenchRoom(connections);
        room._running.TrySetResult();
        for (var seat = 0; seat < 3; seat++)
        {
            var receiver = seat;
            connections[seat] = new HubConnectionBuilder().WithUrl(new Uri(url, "/floor-hub")).AddMessagePackProtocol().Build();
            connections[seat].On<TickEvent>("Tick", tick => room.OnTick(receiver, tick));
            await connections[seat].StartAsync();
            await connections[seat].InvokeAsync("Join", index, seat);
        }

        return room;
    }

    /// <summary>A started MessagePack connection for a new guest.</summary>
    public static async Task<HubConnection> ConnectAsync(HttpClient http, Uri url, string displayName)
    {
        var connection = await BuildAsync(http, url, displayName);
        await connection.StartAsync();
        return connection;
    }

    private static async Task<HubConnection> BuildAsync(HttpClient http, Uri url, string displayName)
    {
        using var response = await http.PostAsJsonAsync("/api/auth/guest", new { displayName });
        var token = (await response.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
        return new HubConnectionBuilder()
            .WithUrl(new Uri(url, "/hubs/game"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
            .AddMessagePackProtocol()
            .Build();
    }

    public override Task WaitRunningAsync() => _running.Task;

    protected override void SendInput(int seat, long seq, long songTimeMs)
    {
        var input = new Dictionary<string, object>
        {
            ["seq"] = seq, ["songTimeMs"] = songTimeMs, ["x"] = 1.0, ["y"] = 0.0, ["z"] = seq * 0.1,
            ["lane"] = (int)(seq % 8), ["anim"] = "run", ["score"] = seq, ["combo"] = 1,
        };
        _ = _connections[seat].SendAsync("SendInput", input);
    }

    private void OnTick(int receiver, TickEvent tick)
    {
        var now = Stopwatch.GetTimestamp();
        TickReceived();
        if (tick.Full)
        {
            return;
        }

        foreach (var seat in tick.Players)
        {
            Observed(receiver, seat.Seat, seat.Seq, now);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }
}

/// <summary>
/// A room of bench/Rooms.Floor: raw WebSockets with frames of the real messages' sizes under MessagePack (a
/// SendInput invocation is 130 bytes, a two-seat Tick 274). Input frames start with their seq; ticks with the
/// tick number, then each player seat's latest input (56 bytes apiece, so its seq).
/// </summary>
sealed class FloorRoomClient : DrivenRoom
{
    private const int InputBytes = 130;
    private const int SeatBytes = 56;
    private readonly ClientWebSocket[] _sockets;
    private readonly byte[][] _inputs = [new byte[InputBytes], new byte[InputBytes]];
    private readonly int[] _sending = new int[2];
    private readonly CancellationTokenSource _closing = new();
    private readonly Task[] _receivers;

    private FloorRoomClient(ClientWebSocket[] sockets)
    {
        _sockets = sockets;
        _receivers = [.. Enumerable.Range(0, sockets.Length).Select(ReceiveAsync)];
    }

    public static async Task<FloorRoomClient> StartAsync(Uri url, int index)
    {
        var sockets = new ClientWebSocket[3];
        for (var seat = 0; seat < 3; seat++)
        {
            sockets[seat] = new ClientWebSocket();
            await sockets[seat].ConnectAsync(new Uri($"ws://{url.Authority}/floor/{index}/{seat}"), CancellationToken.None);
        }

        return new FloorRoomClient(sockets);
    }

    /// <summary>The floor server ticks every room from the start.</summary>
    public override Task WaitRunningAsync() => Task.CompletedTask;

    protected override void SendInput(int seat, long seq, long songTimeMs)
    {
        // A WebSocket takes one send at a time: a player whose last input is still being sent skips a beat.
        if (Interlocked.Exchange(ref _sending[seat], 1) == 1)
        {
            return;
        }

        BinaryPrimitives.WriteInt64LittleEndian(_inputs[seat], seq);
        BinaryPrimitives.WriteInt64LittleEndian(_inputs[seat].AsSpan(8), songTimeMs);
        _ = SendAsync(seat);
    }

    private async Task SendAsync(int seat)
    {
        try
        {
            await _sockets[seat].SendAsync(_inputs[seat], WebSocketMessageType.Binary, true, CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }
        finally
        {
            Volatile.Write(ref _sending[seat], 0);
        }
    }

    private async Task ReceiveAsync(int receiver)
    {
        var frame = new byte[1024];
        var lastSeen = new long[2]; // a seat's seq repeats in every tick until its next input: count its first sight only
        try
        {
            while (true)
            {
                var received = await _sockets[receiver].ReceiveAsync(frame.AsMemory(), _closing.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                var now = Stopwatch.GetTimestamp();
                TickReceived();
                for (var seat = 0; seat < 2; seat++)
                {
                    var seq = BinaryPrimitives.ReadInt64LittleEndian(frame.AsSpan(8 + seat * SeatBytes));
                    if (seq > lastSeen[seat])
                    {
                        lastSeen[seat] = seq;
                        Observed(receiver, seat, seq, now);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync();
        await Task.WhenAll(_receivers);
        foreach (var socket in _sockets)
        {
            socket.Abort();
            socket.Dispose();
        }

        _closing.Dispose();
    }
}

sealed record ProcessStats(double CpuSeconds, long RssKiB)
{
    public static ProcessStats? Read(int? pid)
    {
        if (pid is null)
        {
            return null;
        }

        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        var rss = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return new ProcessStats(ticks / 100.0, long.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
    }
}

/// <summary>The server's live managed heap (after a full GC this bench induces) and its RSS.</summary>
sealed record ServerMemory(long HeapBytes, long RssBytes)
{
    private const long GCHeapCollectKeyword = 0x800000;

    public static async Task<ServerMemory> SettledAsync(HttpClient http, int pid)
    {
        await Task.Delay(TimeSpan.FromSeconds(5)); // timers, pending writes and connection handshakes settle
        var client = new DiagnosticsClient(pid);
        using (var session = client.StartEventPipeSession(
            [new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, GCHeapCollectKeyword)], requestRundown: false))
        {
            var drain = session.EventStream.CopyToAsync(Stream.Null);
            await Task.Delay(TimeSpan.FromSeconds(2));
            await session.StopAsync(CancellationToken.None);
            await drain;
        }

        long heap = 0;
        foreach (var line in (await http.GetStringAsync("/metrics")).Split('\n'))
        {
            if (line.StartsWith("dotnet_gc_last_collection_heap_size_bytes{", StringComparison.Ordinal))
            {
                heap += (long)Histogram.SampleValue(line);
            }
        }

        return new ServerMemory(heap, ProcessStats.Read(pid)!.RssKiB * 1024);
    }
}

/// <summary>A Prometheus histogram's cumulative buckets (le → count), summed over all series.</summary>
sealed record Histogram(SortedDictionary<double, double> Buckets)
{
    public static async Task<Histogram> ScrapeAsync(HttpClient http, string name)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var line in (await http.GetStringAsync("/metrics")).Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || !line.Contains("_bucket{", StringComparison.Ordinal))
            {
                continue;
            }

            var le = line[(line.IndexOf("le=\"", StringComparison.Ordinal) + 4)..];
            le = le[..le.IndexOf('"')];
            var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
            var count = SampleValue(line);
            buckets[bound] = buckets.GetValueOrDefault(bound) + count;
        }

        return new Histogram(buckets);
    }

    /// <summary>The value of one Prometheus sample line (<c>name{labels} value [timestamp]</c>).</summary>
    public static double SampleValue(string line) =>
        double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);

    public Histogram Minus(Histogram earlier) =>
        new(new SortedDictionary<double, double>(Buckets.ToDictionary(b => b.Key, b => b.Value - earlier.Buckets.GetValueOrDefault(b.Key))));

    /// <summary>The smallest bucket bound that holds the quantile (an upper bound of it).</summary>
    public double Quantile(double q)
    {
        var total = Buckets.Count == 0 ? 0 : Buckets.Values.Max();
        return Buckets.FirstOrDefault(b => b.Value >= q * total, new(double.NaN, 0)).Key;
    }
}
