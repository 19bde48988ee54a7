using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// A spectator whose link stops taking data (a phone in a tunnel, a tab in the background) must not queue every
/// tick on the server until it sees the room seconds behind: it skips ticks and catches up with a keyframe.
/// Long polling makes "stops taking data" exact: the client simply stops polling.
/// </summary>
public sealed class SlowConnectionTests(RoomHostFixture fixture) : IClassFixture<RoomHostFixture>
{
    private const char RecordSeparator = '\u001e';

    [Fact]
    public async Task A_connection_that_stops_reading_skips_ticks_and_catches_up_with_a_keyframe()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "Fast1", "Fast2");
        var roomId = await StartMatchAsync(players[0], players[1]);

        var watcher = await LongPollingClient.ConnectAsync(fixture.Host, (await fixture.Host.GuestAsync("Watcher")).Token);
        await watcher.InvokeAsync("Spectate", new { roomId });

        // The watcher stops polling while the players play on.
        var (stalledFrom, stalledTo) = await PlayAsync(players[0], players[1], TimeSpan.FromSeconds(8));

        // Polling again: everything the server kept for the watcher, up to a tick the players saw after the stall.
        var ticks = new List<JsonNode>();
        while (ticks.Count == 0 || Tick(ticks[^1]) < stalledTo)
        {
            ticks.AddRange(await watcher.PollTicksAsync());
        }

        AssertSkippedAndCaughtUp(ticks, stalledFrom, stalledTo);
        var metrics = await fixture.Host.Http.GetStringAsync("/metrics");
        Assert.Matches(@"\nplaymusic_hub_ticks_skipped_total(\{[^}]*\})? [1-9]", metrics);
    }

    /// <summary>
    /// Over a WebSocket a stalled downlink (a phone in a tunnel) must end the same way. Before the kernel's queue was
    /// bounded, the socket's autotuned send buffer took every tick of the stall, the writes kept completing, and the
    /// phone got the whole backlog of stale ticks when its link came back.
    /// </summary>
    [Fact]
    public async Task A_websocket_whose_downlink_stalls_skips_ticks_and_catches_up_with_a_keyframe()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "Fast1", "Fast2");
        var roomId = await StartMatchAsync(players[0], players[1]);

        await using var proxy = new TcpProxy("127.0.0.1", fixture.Host.BaseAddress.Port, serverReceiveBufferBytes: 4096);
        var phone = await fixture.Host.GuestAsync("Tunnel");
        await using var watcher = await HubClient.ConnectAsync(new Uri($"http://127.0.0.1:{proxy.Port}"), phone.Token, Protocol.Json);
        await watcher.InvokeAsync("Spectate", new { roomId });
        await watcher.NextAsync("Tick", timeout: TimeSpan.FromSeconds(30));

        proxy.StallDownlink();
        var (stalledFrom, stalledTo) = await PlayAsync(players[0], players[1], TimeSpan.FromSeconds(10));
        proxy.ResumeDownlink();

        var ticks = new List<JsonNode>();
        while (ticks.Count == 0 || Tick(ticks[^1]) < stalledTo)
        {
            ticks.Add(await watcher.NextAsync("Tick", timeout: TimeSpan.FromSeconds(30)));
        }

        AssertSkippedAndCaughtUp(ticks, stalledFrom, stalledTo);
    }

    /// <summary>A runner match of the two players, running; its room id.</summary>
    private static async Task<string> StartMatchAsync(HubClient p1, HubClient p2)
    {
        var roomId = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = $"slow-{Guid.NewGuid():N}"[..20], songDurationMs = 120_000 }))!["room"]!["roomId"]!.GetValue<string>();
        await p2.InvokeAsync("JoinRoom", new { roomId });
        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running", TimeSpan.FromSeconds(30));
        return roomId;
    }

    /// <summary>
    /// The first player plays for a while (its inputs make every tick carry seat states); the first and last ticks
    /// the second player saw of that time.
    /// </summary>
    private static async Task<(long From, long To)> PlayAsync(HubClient p1, HubClient p2, TimeSpan duration)
    {
        p2.Clear("Tick");
        var from = Tick(await p2.NextAsync("Tick", timeout: TimeSpan.FromSeconds(30)));
        using (var playing = new CancellationTokenSource(duration))
        {
            for (var seq = 1; !playing.IsCancellationRequested; seq++)
            {
                await p1.InvokeAsync("SendInput", new { seq, songTimeMs = seq * 40, x = seq % 7, y = 0, z = seq, lane = seq % 3, anim = "run", score = 0, combo = 0 });
                await Task.Delay(40);
            }
        }

        p2.Clear("Tick");
        return (from, Tick(await p2.NextAsync("Tick", timeout: TimeSpan.FromSeconds(30))));
    }

    private static void AssertSkippedAndCaughtUp(List<JsonNode> ticks, long stalledFrom, long stalledTo)
    {
        var during = ticks.Where(t => Tick(t) >= stalledFrom && Tick(t) <= stalledTo).ToList();
        Assert.True(during.Count < (stalledTo - stalledFrom) * 0.8,
            $"the client got {during.Count} of the {stalledTo - stalledFrom + 1} ticks sent while it was not reading: they were queued, not skipped");
        Assert.Contains(ticks, t => Tick(t) > stalledFrom && t["full"]!.GetValue<bool>());
    }

    private static long Tick(JsonNode tick) => tick["tick"]!.GetValue<long>();

    /// <summary>The SignalR JSON protocol over long polling, by hand: it reads only when told to.</summary>
    private sealed class LongPollingClient
    {
        private readonly HttpClient _http;
        private readonly string _path;
        private readonly List<JsonNode> _unread = [];
        private int _invocations;

        private LongPollingClient(HttpClient http, string path)
        {
            _http = http;
            _path = path;
        }

        public static async Task<LongPollingClient> ConnectAsync(ApiHost host, string token)
        {
            var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var negotiated = await http.PostAsync("/hubs/game/negotiate?negotiateVersion=1", null);
            negotiated.EnsureSuccessStatusCode();
            var connectionToken = JsonNode.Parse(await negotiated.Content.ReadAsStringAsync())!["connectionToken"]!.GetValue<string>();
            var client = new LongPollingClient(http, $"/hubs/game?id={Uri.EscapeDataString(connectionToken)}");
            await client.SendAsync("""{"protocol":"json","version":1}""");
            return client;
        }

        public async Task<JsonNode?> InvokeAsync(string target, object argument)
        {
            var id = (++_invocations).ToString();
            await SendAsync(new JsonObject { ["type"] = 1, ["invocationId"] = id, ["target"] = target, ["arguments"] = new JsonArray(JsonSerializer.SerializeToNode(argument)) }.ToJsonString());
            while (true)
            {
                var completion = _unread.FirstOrDefault(m => m["type"]?.GetValue<int>() == 3 && m["invocationId"]?.GetValue<string>() == id);
                if (completion is not null)
                {
                    return completion["error"] is { } error ? throw new InvalidOperationException(error.GetValue<string>()) : completion["result"];
                }

                _unread.AddRange(await PollAsync());
            }
        }

        /// <summary>One poll's ticks (with any read before, in order).</summary>
        public async Task<IReadOnlyList<JsonNode>> PollTicksAsync()
        {
            _unread.AddRange(await PollAsync());
            var ticks = _unread.Where(m => m["target"]?.GetValue<string>() == "Tick").Select(m => m["arguments"]![0]!).ToList();
            _unread.Clear();
            return ticks;
        }

        private async Task SendAsync(string record)
        {
            using var sent = await _http.PostAsync(_path, new StringContent(record + RecordSeparator, Encoding.UTF8, "text/plain"));
            sent.EnsureSuccessStatusCode();
        }

        private async Task<List<JsonNode>> PollAsync()
        {
            using var polled = await _http.GetAsync(_path);
            polled.EnsureSuccessStatusCode();
            var body = await polled.Content.ReadAsStringAsync();
            return [.. body.Split(RecordSeparator, StringSplitOptions.RemoveEmptyEntries).Select(r => JsonNode.Parse(r)!)];
        }
    }
}
