using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MessagePack;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;
using PlayMusic.Rooms;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

public sealed class GameHubTests(RoomHostFixture fixture) : IClassFixture<RoomHostFixture>
{
    public static TheoryData<Protocol> Protocols => [Protocol.Json, Protocol.MessagePack];

    private static object Input(long seq, long score, long songTimeMs = 1000, int lane = 1) =>
        new { seq, songTimeMs, x = 1.5, y = 0.0, z = -2.0, lane, anim = "run", score, combo = 3 };

    private static string Song() => "song-" + Guid.NewGuid().ToString("N")[..8];

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Head_to_head_match_runs_from_lobby_to_results(Protocol protocol)
    {
        var (host, p1) = await fixture.PlayerAsync(protocol, "Host");
        var (guest, p2) = await fixture.PlayerAsync(protocol, "Guest");
        await using var _1 = p1;
        await using var _2 = p2;

        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), songDurationMs = 10000, config = new { speed = 2, stems = new[] { "a" } } }))!;
        var room = created["room"]!;
        var roomId = room["roomId"]!.GetValue<string>();
        Assert.Equal(0, created["seat"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(created["resumeToken"]!.GetValue<string>()));
        Assert.Equal("lobby", room["state"]!.GetValue<string>());
        Assert.Equal(2, room["config"]!["speed"]!.GetValue<int>());
        Assert.True(room["settings"]!["showGhosts"]!.GetValue<bool>());
        var joinCode = room["joinCode"]!.GetValue<string>();
        Assert.Matches("^[ACDEFGHJKMNPQRTWXY34679]{6}$", joinCode);
        // camelCase keys under both protocols (MessagePack maps are converted key by key).
        Assert.Equal(["roomId", "joinCode", "mode", "songId", "state", "hostSeat", "maxPlayers", "settings", "config", "players", "spectators"],
            room.AsObject().Select(p => p.Key).Where(k => k != "startsAt").ToArray());

        var joined = (await p2.InvokeAsync("JoinRoom", new { joinCode = $" {joinCode.ToLowerInvariant()}\n" }))!; // as pasted from a chat
        Assert.Equal(roomId, joined["room"]!["roomId"]!.GetValue<string>());
        Assert.Equal(1, joined["seat"]!.GetValue<int>());
        await p1.NextAsync("RoomState", r => r["players"]!.AsArray().Count == 2);
        Assert.Equal("", joined["room"]!["players"]![1]!["avatarId"]!.GetValue<string>()); // no avatar chosen yet: a string, not null

        await p2.FailsWithAsync(RoomErrors.ConfigNotLoaded, "SetReady", new { ready = true, configLoaded = false });
        await p2.FailsWithAsync(RoomErrors.NotHost, "UpdateSettings", new { showScores = false });
        var settings = (await p1.InvokeAsync("UpdateSettings", new { showScores = false }))!;
        Assert.False(settings["settings"]!["showScores"]!.GetValue<bool>());
        var customized = (await p2.InvokeAsync("Customize", new { ghostColor = "#12AB34", ghostOpacity = 0.7, avatarId = "fox" }))!;
        Assert.Equal("#12AB34", customized["players"]![1]!["ghostColor"]!.GetValue<string>());
        await p2.FailsWithAsync(RoomErrors.InvalidArgument, "Customize", new { ghostColor = "red" });
        Assert.Contains("avatarId", await p2.FailsWithAsync(RoomErrors.InvalidArgument, "Customize", new { avatarId = "fox\u001b[2J" }));
        Assert.Contains("avatarId", await p2.FailsWithAsync(RoomErrors.InvalidArgument, "Customize", new { avatarId = "fox\u202Eevil" }));

        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        var countdown = await p2.NextAsync("Countdown");
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(roomId, countdown["roomId"]!.GetValue<string>());
        Assert.Equal(3, countdown["seconds"]!.GetValue<int>());
        // The room starts 3 s after the last SetReady reached it, rounded up to its 100 ms tick grid; bounded by
        // clock readings on either side of that call, so a late read of the event cannot fail it.
        Assert.InRange(countdown["startsAt"]!.GetValue<long>(), before + 3000, after + 3100);
        await p2.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");

        var first = await p2.NextAsync("Tick");
        Assert.True(first["full"]!.GetValue<bool>());
        Assert.Equal(2, first["players"]!.AsArray().Count);
        Assert.Equal(["roomId", "tick", "serverTime", "songTimeMs", "full", "players"], first.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal(["seat", "seq", "x", "y", "z", "lane", "anim", "score", "combo", "connected"],
            first["players"]![0]!.AsObject().Select(p => p.Key).ToArray());

        await p1.InvokeAsync("SendInput", Input(1, 100));
        var seen = await p2.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 0 && p["seq"]!.GetValue<long>() == 1));
        var mine = seen["players"]!.AsArray().Single(p => p!["seat"]!.GetValue<int>() == 0)!;
        Assert.Equal(100, mine["score"]!.GetValue<long>());
        Assert.Equal(1.5, mine["x"]!.GetValue<double>());
        Assert.Equal("run", mine["anim"]!.GetValue<string>());

        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput", Input(1, 100));           // seq not increasing
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput", Input(2, 50));            // score decreasing
        Assert.Contains("lane must be 0..7", await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput", Input(2, 100, lane: 8)));
        Assert.Contains("lane must be 0..7", await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput",
            new { seq = 2, songTimeMs = 1000, x = 0.0, y = 0.0, z = 0.0, lane = 1L << 40, anim = "run", score = 100, combo = 0 }));
        Assert.Contains("x, y and z must be finite", await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput",
            new { seq = 2, songTimeMs = 1000, x = 0.0, y = 1e300, z = 0.0, lane = 1, anim = "run", score = 100, combo = 0 }));  // beyond float
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput", Input(2, 10_000_000));    // faster than the cap
        Assert.Contains("score and combo must be integers from 0 to 2147483647", await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput",
            new { seq = 2, songTimeMs = 1000, x = 0.0, y = 0.0, z = 0.0, lane = 1, anim = "run", score = 100, combo = 1L << 40 }));  // combo: int
        if (protocol == Protocol.MessagePack)
        {
            // Only MessagePack can carry a non-finite number.
            await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SendInput",
                new { seq = 2, songTimeMs = 1000, x = double.NaN, y = 0.0, z = 0.0, lane = 1, anim = "run", score = 100, combo = 0 });
        }

        await p1.InvokeAsync("SendInput", Input(2, 200, 1200));

        await p1.InvokeAsync("Emote", new { emote = "wave" });
        var emote = await p2.NextAsync("Emote");
        Assert.Equal(0, emote["seat"]!.GetValue<int>());
        Assert.Equal("wave", emote["emote"]!.GetValue<string>());
        // A burst sent without waiting between calls: the bucket holds at most 3 and refills 1 per second, so
        // all 8 could pass only if 5 s went by within the burst.
        var burst = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            try
            {
                await p1.InvokeAsync("Emote", new { emote = "gg" });
                return null;
            }
            catch (HubException error)
            {
                return error.Message;
            }
        }));
        var refusals = burst.OfType<string>().ToArray();
        Assert.NotEmpty(refusals);
        Assert.All(refusals, message => Assert.StartsWith(RoomErrors.RateLimited + ": ", message));
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "Emote", new { emote = "dance" });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "TriggerStem", new { stemId = "a", active = true });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "UpdateSettings", new { config = new { speed = 3 } });

        var (_, third) = await fixture.PlayerAsync(protocol, "Late");
        await using var _3 = third;
        await third.FailsWithAsync(RoomErrors.RoomNotJoinable, "JoinRoom", new { roomId });
        var spectating = (await third.InvokeAsync("Spectate", new { roomId }))!;
        Assert.Equal(1, spectating["room"]!["spectators"]!.GetValue<int>());
        var spectatorTick = await third.NextAsync("Tick");
        Assert.True(spectatorTick["full"]!.GetValue<bool>());
        var live = (await third.InvokeAsync("ListLiveRooms", new { mode = "runner", limit = 100 }))!.AsArray();
        var listed = live.Single(r => r!["roomId"]!.GetValue<string>() == roomId)!;
        Assert.Equal("running", listed["state"]!.GetValue<string>());
        Assert.Equal(2, listed["players"]!.GetValue<int>());
        await Poll(async () => (await third.InvokeAsync("ListLiveRooms", new { limit = 100 }))!.AsArray()
            .Any(r => r!["roomId"]!.GetValue<string>() == roomId && r["spectators"]!.GetValue<int>() == 1));
        await third.FailsWithAsync(RoomErrors.InvalidArgument, "ListLiveRooms", new { limit = 0 });

        await p1.InvokeAsync("Finish", new { score = 300 });
        await p2.InvokeAsync("Finish", new { score = 150 });
        var results = await third.NextAsync("Results");
        var ranking = results["ranking"]!.AsArray();
        Assert.Equal(host.PlayerId, ranking[0]!["playerId"]!.GetValue<string>());
        Assert.Equal(1, ranking[0]!["rank"]!.GetValue<int>());
        Assert.Equal(300, ranking[0]!["score"]!.GetValue<long>());
        Assert.Equal(guest.PlayerId, ranking[1]!["playerId"]!.GetValue<string>());
        Assert.Equal(2, ranking[1]!["rank"]!.GetValue<int>());
        Assert.Null(results["coopScore"]);
        Assert.True(results["durationMs"]!.GetValue<long>() > 0);
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "finished");

        var metrics = await fixture.Host.Http.GetStringAsync("/metrics");
        Assert.Contains("playmusic_room_tick_lag_milliseconds_bucket", metrics);
        Assert.Contains("playmusic_room_tick_duration_milliseconds_bucket", metrics);
        Assert.Contains("playmusic_room_node_messages", metrics);
        Assert.Contains("playmusic_hub_messages_in", metrics);
        Assert.Contains("playmusic_hub_messages_out", metrics);

        // A player who comes back to the finished room (new connection, Resume) still learns how it ended.
        await using var back = await HubClient.ConnectAsync(fixture.Host.BaseAddress, guest.Token, protocol);
        var resumed = (await back.InvokeAsync("Resume", new { roomId, resumeToken = joined["resumeToken"]!.GetValue<string>() }))!;
        Assert.Equal("finished", resumed["room"]!["state"]!.GetValue<string>());
        var again = await back.NextAsync("Results");
        Assert.Equal([host.PlayerId, guest.PlayerId], again["ranking"]!.AsArray().Select(r => r!["playerId"]!.GetValue<string>()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Duet_stems_and_coop_results(Protocol protocol)
    {
        var (_, p1) = await fixture.PlayerAsync(protocol, "A");
        var (_, p2) = await fixture.PlayerAsync(protocol, "B");
        await using var _1 = p1;
        await using var _2 = p2;
        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "duet", songId = Song(), isPrivate = true }))!;
        var roomId = created["room"]!["roomId"]!.GetValue<string>();
        Assert.Equal(2, created["room"]!["maxPlayers"]!.GetValue<int>());
        await p2.InvokeAsync("JoinRoom", new { roomId });

        // Stems the players could not trigger (none, or not ids) are refused, not stored.
        foreach (var unusable in new object[] { new[] { 1, 2 }, Array.Empty<string>(), "drums", new[] { "" }, new[] { new string('x', 33) }, new[] { "a\nb" } })
        {
            Assert.Contains("stems", await p1.FailsWithAsync(RoomErrors.InvalidArgument, "UpdateSettings", new { config = new { stems = unusable } }));
        }

        Assert.Contains("stems", await p2.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "duet", songId = Song(), config = new { stems = new[] { 1 } } }));
        var (_, soloist) = await fixture.PlayerAsync(protocol, "C");
        await using var _3 = soloist;
        await soloist.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), config = new { stems = "on" } }); // other modes read no stems

        // The host's config change clears ready and replaces the default stems.
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        var changed = (await p1.InvokeAsync("UpdateSettings", new { config = new { stems = new[] { "piano", "choir" } } }))!;
        Assert.All(changed["players"]!.AsArray(), p => Assert.False(p!["ready"]!.GetValue<bool>()));
        Assert.Equal("piano", changed["config"]!["stems"]![0]!.GetValue<string>());

        await p1.InvokeAsync("TriggerStem", new { stemId = "piano", active = true });
        var stems = await p2.NextAsync("Stems");
        Assert.True(stems["stems"]!["piano"]!.GetValue<bool>());
        Assert.False(stems["stems"]!["choir"]!.GetValue<bool>());
        Assert.Equal(0, stems["coopScore"]!.GetValue<long>());
        // Stems go out when a stem changed: a repeat sends nothing, so the next event is choir's.
        await p2.InvokeAsync("TriggerStem", new { stemId = "piano", active = true });
        await p2.InvokeAsync("TriggerStem", new { stemId = "choir", active = true });
        Assert.True((await p2.NextAsync("Stems"))["stems"]!["choir"]!.GetValue<bool>());
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "TriggerStem", new { stemId = "drums", active = true });

        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");
        await p1.InvokeAsync("Finish", new { score = 1000 });
        await p2.InvokeAsync("Finish", new { score = 2000 });
        var results = await p1.NextAsync("Results");
        Assert.Equal(3000, results["coopScore"]!.GetValue<long>());
        Assert.Equal(2, results["ranking"]!.AsArray().Count);
        Assert.Equal(2000, results["ranking"]![0]!["score"]!.GetValue<long>());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Refusals_carry_their_codes_and_keep_the_connection_open(Protocol protocol)
    {
        var (_, p1) = await fixture.PlayerAsync(protocol, "A");
        var (_, p2) = await fixture.PlayerAsync(protocol, "B");
        var (_, p3) = await fixture.PlayerAsync(protocol, "C");
        await using var _1 = p1;
        await using var _2 = p2;
        await using var _3 = p3;

        await p1.FailsWithAsync(RoomErrors.NotInRoom, "SetReady", new { ready = true, configLoaded = true });
        await p1.FailsWithAsync(RoomErrors.NotInRoom, "LeaveRoom");
        await p1.FailsWithAsync(RoomErrors.NotInRoom, "SendInput", Input(1, 0));
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "SetReady", "not an object");
        await p1.FailsWithAsync(RoomErrors.ModeNotMultiplayer, "CreateRoom", new { mode = "flight", songId = "s" });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = "bad id!" });
        // The matchmaker keys lobbies by mode/song: a '/' in the mode must not smuggle a malformed song id in.
        Assert.Contains("mode", await p1.FailsWithAsync(RoomErrors.InvalidArgument, "QuickMatch", new { mode = "runner/x", songId = "y" }));
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = "s", songDurationMs = 5 });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = "s", config = new[] { 1 } });
        await p1.FailsWithAsync(RoomErrors.RoomNotFound, "JoinRoom", new { roomId = Guid.NewGuid().ToString() });
        await p1.FailsWithAsync(RoomErrors.RoomNotFound, "JoinRoom", new { joinCode = "AAAAAA" });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "JoinRoom", new { joinCode = "OOOOOO" });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "JoinRoom", new { });
        await p1.FailsWithAsync(RoomErrors.RoomNotFound, "Spectate", new { roomId = Guid.NewGuid().ToString() });

        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), maxPlayers = 2 }))!;
        var roomId = created["room"]!["roomId"]!.GetValue<string>();
        await p1.FailsWithAsync(RoomErrors.Unauthorized, "Resume", new { roomId, resumeToken = "forged.token" });
        await p2.FailsWithAsync(RoomErrors.Unauthorized, "Resume", new { roomId, resumeToken = created["resumeToken"]!.GetValue<string>() });
        await p2.InvokeAsync("JoinRoom", new { roomId });
        await p3.FailsWithAsync(RoomErrors.RoomFull, "JoinRoom", new { roomId });
        await p1.InvokeAsync("UpdateSettings", new { allowSpectators = false });
        await p3.FailsWithAsync(RoomErrors.SpectatorsDisabled, "Spectate", new { roomId });

        await p2.InvokeAsync("LeaveRoom");
        var left = await p1.NextAsync("PlayerLeft");
        Assert.Equal("left", left["reason"]!.GetValue<string>());
        Assert.Equal(1, left["seat"]!.GetValue<int>());
        await p3.InvokeAsync("JoinRoom", new { roomId });
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Moving_between_rooms_never_costs_the_seat_a_player_keeps(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "A", "B", "C");
        var (p1, p2, p3) = (players[0], players[1], players[2]);
        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song() }))!;
        var roomId = created["room"]!["roomId"]!.GetValue<string>();
        var token = created["resumeToken"]!.GetValue<string>();

        // A repeated Resume and a join of its own room keep seat 0.
        Assert.Equal(0, (await p1.InvokeAsync("Resume", new { roomId, resumeToken = token }))!["seat"]!.GetValue<int>());
        Assert.Equal(0, (await p1.InvokeAsync("Resume", new { roomId, resumeToken = token }))!["seat"]!.GetValue<int>());
        Assert.Equal(0, (await p1.InvokeAsync("JoinRoom", new { roomId }))!["seat"]!.GetValue<int>());

        // A refused join elsewhere leaves the player where it was.
        var full = (await p2.InvokeAsync("CreateRoom", new { mode = "duet", songId = Song() }))!["room"]!["roomId"]!.GetValue<string>();
        await p3.InvokeAsync("JoinRoom", new { roomId = full });
        await p1.FailsWithAsync(RoomErrors.RoomFull, "JoinRoom", new { roomId = full });
        var view = (await p1.InvokeAsync("SetReady", new { ready = false, configLoaded = true }))!;
        Assert.Equal(roomId, view["roomId"]!.GetValue<string>());
        Assert.Single(view["players"]!.AsArray());

        // Joining another room does leave the first one; the joiner is seated in the new one.
        await p3.InvokeAsync("JoinRoom", new { roomId });
        var afterMove = (await p2.InvokeAsync("SetReady", new { ready = false, configLoaded = true }))!;
        Assert.Single(afterMove["players"]!.AsArray());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_join_during_the_countdown_cancels_it(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "A", "B", "C");
        var (p1, p2, p3) = (players[0], players[1], players[2]);
        var roomId = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), songDurationMs = 60000 }))!["room"]!["roomId"]!.GetValue<string>();
        await p2.InvokeAsync("JoinRoom", new { roomId });
        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p1.NextAsync("Countdown");

        var joined = (await p3.InvokeAsync("JoinRoom", new { roomId }))!;
        Assert.Equal(2, joined["seat"]!.GetValue<int>());
        Assert.Equal("lobby", joined["room"]!["state"]!.GetValue<string>());
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "lobby" && r["players"]!.AsArray().Count == 3);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Inputs_may_start_at_seq_0_in_a_count_in_and_a_coalesced_burst_does_not_stall_the_seat(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "A", "B");
        var (p1, p2) = (players[0], players[1]);
        await RunningMatchAsync(p1, p2);

        await p1.InvokeAsync("SendInput", Input(0, 0, songTimeMs: -500)); // seq 0, during a count-in
        // Each step is within the runner cap (5,000 per second plus one second's worth) of the one before,
        // but together, coalesced into one tick, they rise by three seconds' worth at once.
        await p1.InvokeAsync("SendInput", Input(1, 5_000));
        await p1.InvokeAsync("SendInput", Input(2, 10_000));
        await p1.InvokeAsync("SendInput", Input(3, 15_000));
        await p1.InvokeAsync("SendInput", Input(4, 15_000));

        var tick = await p2.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 0 && p["seq"]!.GetValue<long>() == 4));
        var seat = tick["players"]!.AsArray().Single(p => p!["seat"]!.GetValue<int>() == 0)!;
        Assert.InRange(seat["score"]!.GetValue<long>(), 5_000, 15_000);
    }

    [Fact]
    public async Task A_song_time_far_ahead_of_the_rooms_clock_does_not_raise_the_score_cap()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "A", "B");
        var (p1, p2) = (players[0], players[1]);
        await RunningMatchAsync(p1, p2);

        // Within the cap for the song time it claims (5,000/s for ~24 days), which the room has not played.
        const long claimed = int.MaxValue;
        await p1.InvokeAsync("SendInput", Input(1, claimed, songTimeMs: int.MaxValue));
        var tick = await p2.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 0 && p["seq"]!.GetValue<long>() == 1));
        var score = tick["players"]!.AsArray().Single(p => p!["seat"]!.GetValue<int>() == 0)!["score"]!.GetValue<long>();
        // The room's song time is a few seconds at most here: its cap, with the lead a client's clock may have.
        Assert.InRange(score, 1, 5_000 * 60);

        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "Finish", new { score = claimed });
        await p1.InvokeAsync("Finish", new { score });
    }

    [Fact]
    public async Task Many_small_steps_do_not_raise_the_rooms_score_faster_than_the_cap()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "A", "B");
        var (p1, p2) = (players[0], players[1]);
        await RunningMatchAsync(p1, p2);

        // Each step keeps PROTOCOL §2's per-input rule (the cap times 16 ms of song time, plus one second's worth), so
        // the hub accepts all 60; paced like a 60 Hz client, they reach the room over some 30 ticks.
        for (var seq = 1; seq <= 60; seq++)
        {
            await p1.InvokeAsync("SendInput", Input(seq, 5_000L * seq, songTimeMs: 16 * seq));
            await Task.Delay(16);
        }

        var tick = await p2.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 0 && p["seq"]!.GetValue<long>() == 60));
        var score = tick["players"]!.AsArray().Single(p => p!["seat"]!.GetValue<int>() == 0)!["score"]!.GetValue<long>();
        // Over the song the room keeps to the cap: 5,000/s for 960 ms, plus one second's worth.
        Assert.InRange(score, 5_000, 5_000 * 1_960 / 1_000);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Live_rooms_follow_leaves_and_methods_take_no_argument_object(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "A", "B", "C", "W");
        var (p1, p2, p3, watcher) = (players[0], players[1], players[2], players[3]);
        var roomId = await RunningMatchAsync(p1, p2, p3);
        await watcher.InvokeAsync("Spectate", new { roomId });
        await LiveRoomAsync(watcher, roomId, r => r["players"]!.GetValue<int>() == 3 && r["spectators"]!.GetValue<int>() == 1);

        // "One argument object (or none)": LeaveRoom takes an empty object or null as well as nothing.
        await p3.InvokeAsync("LeaveRoom", new { });
        await watcher.Connection.InvokeCoreAsync("LeaveRoom", new object?[] { null }); // a spectator leaves too
        await LiveRoomAsync(watcher, roomId, r => r["players"]!.GetValue<int>() == 2 && r["spectators"]!.GetValue<int>() == 0);
        await watcher.FailsWithAsync(RoomErrors.NotInRoom, "LeaveRoom");
        await p2.InvokeAsync("LeaveRoom");
        await watcher.FailsWithAsync(RoomErrors.InvalidArgument, "SetReady"); // no argument: the method says what is missing

        // stream() of a method that answers once, with its argument or without: a coded refusal too (not a run of the
        // method), and the connection stays.
        foreach (object?[] args in new[] { new object?[] { new { limit = 1 } }, [] })
        {
            var streamed = await Assert.ThrowsAsync<HubException>(async () =>
            {
                await foreach (var _ in watcher.Connection.StreamAsyncCore<object>("ListLiveRooms", args))
                {
                }
            });
            Assert.StartsWith("INVALID_ARGUMENT: ", streamed.Message);
        }

        await watcher.InvokeAsync("ListLiveRooms");
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Config_limits_are_utf8_bytes_and_depth_under_both_protocols(Protocol protocol)
    {
        await using var players = await fixture.PlayersAsync(protocol, "A");
        var p1 = players[0];
        Dictionary<string, object> Nested(int depth) => new() { [depth == 1 ? "leaf" : "n"] = depth == 1 ? 1 : Nested(depth - 1) };

        await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), config = new { s = new string('é', 3_000) } });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = Song(), config = new { s = new string('é', 9_000) } });
        await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), config = Nested(RoomConfig.MaxDepth) });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = Song(), config = Nested(RoomConfig.MaxDepth + 1) });
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = Song(), config = Nested(60) });

        // Beyond SignalR's default 32 KB message: still a refusal on an open connection, not a closed one.
        await p1.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom", new { mode = "runner", songId = Song(), config = new { s = new string('a', 40_000) } });
        // ~16 KB of JSON, but ~36 KB as MessagePack (every 0.5 is a 9-byte float64): valid under both protocols.
        await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), config = new { data = Enumerable.Repeat(0.5, 4_000).ToArray() } });
    }

    [Fact]
    public async Task A_config_that_MessagePack_cannot_carry_is_refused_so_MessagePack_players_stay_connected()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "A");
        var host = players[0];
        await using var guests = await fixture.PlayersAsync(Protocol.MessagePack, "B");
        var guest = guests[0];
        // Valid JSON text, but a number beyond a double or an escaped lone surrogate (JSON.stringify of a string cut
        // inside an emoji) has no MessagePack form: stored, it would fail every room message to MessagePack players.
        // RawJson is written verbatim, as the engine's own JSON.stringify would send it.
        string[] unportable = ["""{"big":1e400}""", """{"cut":"\ud83d"}""", """{"\udc00":1}""", """{"stems":["\ud83d"]}"""];
        foreach (var config in unportable)
        {
            var refusal = await host.FailsWithAsync(RoomErrors.InvalidArgument, "CreateRoom",
                new { mode = "runner", songId = Song(), config = new RawJson(config) });
            Assert.Contains("config", refusal);
        }

        var roomId = (await host.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), config = new { emoji = "🎵", x = 1e300 } }))!["room"]!["roomId"]!.GetValue<string>();
        foreach (var config in unportable)
        {
            await host.FailsWithAsync(RoomErrors.InvalidArgument, "UpdateSettings", new { config = new RawJson(config) });
        }

        var joined = await guest.InvokeAsync("JoinRoom", new { roomId });
        Assert.Equal("🎵", joined!["room"]!["config"]!["emoji"]!.GetValue<string>());
        await host.InvokeAsync("UpdateSettings", new { showGhosts = false });
        await guest.NextAsync("RoomState", r => r["settings"]!["showGhosts"]!.GetValue<bool>() == false);
    }

    /// <summary>A runner match of these players, the first one hosting, once it is running; its room id.</summary>
    private static async Task<string> RunningMatchAsync(HubClient host, params HubClient[] guests)
    {
        var roomId = (await host.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), songDurationMs = 60000 }))!["room"]!["roomId"]!.GetValue<string>();
        foreach (var guest in guests)
        {
            await guest.InvokeAsync("JoinRoom", new { roomId });
        }

        foreach (var player in guests.Prepend(host))
        {
            await player.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        }

        await host.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");
        return roomId;
    }

    private static async Task LiveRoomAsync(HubClient client, string roomId, Func<JsonNode, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        JsonNode? room = null;
        while (DateTime.UtcNow < deadline)
        {
            room = (await client.InvokeAsync("ListLiveRooms"))!.AsArray().FirstOrDefault(r => r!["roomId"]!.GetValue<string>() == roomId);
            if (room is not null && until(room))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"room {roomId} in ListLiveRooms never matched; last seen: {room?.ToJsonString() ?? "absent"}");
    }

    [Fact]
    public async Task Hub_requires_a_token()
    {
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => HubClient.ConnectAsync(fixture.Host.BaseAddress, "not-a-jwt", Protocol.Json));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, error.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Concurrent_quick_matches_fill_the_same_room(Protocol protocol)
    {
        var song = Song();
        var players = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => fixture.PlayerAsync(protocol, "Q" + i)));
        try
        {
            var joined = await Task.WhenAll(players.Select(p => p.Client.InvokeAsync("QuickMatch", new { mode = "runner", songId = song, maxPlayers = 3 })));
            Assert.Single(joined.Select(j => j!["room"]!["roomId"]!.GetValue<string>()).Distinct());
            Assert.Equal([0, 1, 2], joined.Select(j => j!["seat"]!.GetValue<int>()).Order().ToArray());
        }
        finally
        {
            foreach (var (_, client) in players)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Resume_within_grace_keeps_the_seat(Protocol protocol)
    {
        var (_, p1) = await fixture.PlayerAsync(protocol, "A");
        var (b, p2) = await fixture.PlayerAsync(protocol, "B");
        await using var _1 = p1;
        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song() }))!;
        var roomId = created["room"]!["roomId"]!.GetValue<string>();
        var joined = (await p2.InvokeAsync("JoinRoom", new { roomId }))!;
        var token = joined["resumeToken"]!.GetValue<string>();
        await p1.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true });
        await p1.NextAsync("RoomState", r => r["state"]!.GetValue<string>() == "running");

        await p2.DisposeAsync();
        await p1.NextAsync("RoomState", r => r["players"]![1]!["connected"]!.GetValue<bool>() == false);
        await p1.NextAsync("Tick", t => t["players"]!.AsArray().Any(p => p!["seat"]!.GetValue<int>() == 1 && !p["connected"]!.GetValue<bool>()));

        // Within the fixture's generous grace (expiry: SeatExpiryTests, and on a fake clock RoomTimingTests).
        await using var again = await HubClient.ConnectAsync(fixture.Host.BaseAddress, b.Token, protocol);
        var resumed = (await again.InvokeAsync("Resume", new { roomId, resumeToken = token }))!;
        Assert.Equal(1, resumed["seat"]!.GetValue<int>());
        Assert.Equal("running", resumed["room"]!["state"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(resumed["resumeToken"]!.GetValue<string>()));
        var keyframe = await again.NextAsync("Tick");
        Assert.True(keyframe["full"]!.GetValue<bool>());
        Assert.Equal(2, keyframe["players"]!.AsArray().Count);
        await p1.NextAsync("RoomState", r => r["players"]![1]!["connected"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Moving_on_from_a_seat_that_another_tab_already_left_succeeds()
    {
        var (player, tab1) = await fixture.PlayerAsync(Protocol.Json, "Two tabs");
        var (_, other) = await fixture.PlayerAsync(Protocol.Json, "Other");
        await using var _1 = tab1;
        await using var _2 = other;
        await using var tab2 = await HubClient.ConnectAsync(fixture.Host.BaseAddress, player.Token, Protocol.Json);
        var first = (await tab1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song() }))!["room"]!["roomId"]!.GetValue<string>();
        await other.InvokeAsync("JoinRoom", new { roomId = first });

        // The second tab takes the player's seat over, then frees it; the first tab still thinks it is seated.
        await tab2.InvokeAsync("JoinRoom", new { roomId = first });
        await tab2.InvokeAsync("LeaveRoom");
        var second = (await tab1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song() }))!;

        Assert.NotEqual(first, second["room"]!["roomId"]!.GetValue<string>());
        Assert.Equal(0, second["seat"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_waiting_quick_match_lobby_is_still_found_after_everything_went_idle()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "Early", "Late");
        var song = Song();
        var waiting = (await players[0].InvokeAsync("QuickMatch", new { mode = "runner", songId = song }))!["room"]!["roomId"]!.GetValue<string>();

        // The matchmaker and the lobby both deactivate (as after 15 idle minutes, or with their silo).
        await fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var joined = (await players[1].InvokeAsync("QuickMatch", new { mode = "runner", songId = song }))!;
        Assert.Equal(waiting, joined["room"]!["roomId"]!.GetValue<string>());
        Assert.Equal(1, joined["seat"]!.GetValue<int>());
    }

    [Fact]
    public async Task Quick_match_refuses_a_mode_whose_multiplayer_was_turned_off_even_with_lobbies_open()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "Early", "Late");
        var mode = "mm" + Guid.NewGuid().ToString("N")[..8];
        using var admin = fixture.Host.Client(fixture.Host.AdminToken());
        object Mode(bool enabled) => new { name = "Test", maxScorePerSecond = 100, multiplayer = new { enabled, minPlayers = 2, maxPlayers = 2, coop = false } };
        (await admin.PutAsJsonAsync($"/api/admin/config/modes/{mode}", Mode(enabled: true))).EnsureSuccessStatusCode();
        var song = Song();
        await players[0].InvokeAsync("QuickMatch", new { mode, songId = song });

        (await admin.PutAsJsonAsync($"/api/admin/config/modes/{mode}", Mode(enabled: false))).EnsureSuccessStatusCode();

        await players[1].FailsWithAsync(RoomErrors.ModeNotMultiplayer, "QuickMatch", new { mode, songId = song });
    }

    [Fact]
    public async Task Quick_match_refuses_a_size_the_mode_no_longer_allows_even_with_such_a_lobby_open()
    {
        await using var players = await fixture.PlayersAsync(Protocol.Json, "Early", "Late");
        var mode = "mm" + Guid.NewGuid().ToString("N")[..8];
        using var admin = fixture.Host.Client(fixture.Host.AdminToken());
        object Mode(int maxPlayers) => new { name = "Test", maxScorePerSecond = 100, multiplayer = new { enabled = true, minPlayers = 2, maxPlayers, coop = false } };
        (await admin.PutAsJsonAsync($"/api/admin/config/modes/{mode}", Mode(maxPlayers: 3))).EnsureSuccessStatusCode();
        var song = Song();
        await players[0].InvokeAsync("QuickMatch", new { mode, songId = song, maxPlayers = 3 });

        (await admin.PutAsJsonAsync($"/api/admin/config/modes/{mode}", Mode(maxPlayers: 2))).EnsureSuccessStatusCode();

        // The same answer a QuickMatch that had to create the room gets: the lobby still open does not change it.
        Assert.Contains("maxPlayers", await players[1].FailsWithAsync(RoomErrors.InvalidArgument, "QuickMatch", new { mode, songId = song, maxPlayers = 3 }));
        // Without a size the player still fills that lobby: rooms already formed keep the rules they were made with.
        Assert.Equal(3, (await players[1].InvokeAsync("QuickMatch", new { mode, songId = song }))!["room"]!["maxPlayers"]!.GetValue<int>());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_seat_resumed_from_another_tab_no_longer_answers_to_the_old_one(Protocol protocol)
    {
        var (_, p1) = await fixture.PlayerAsync(protocol, "A");
        var (b, oldTab) = await fixture.PlayerAsync(protocol, "B");
        await using var _1 = p1;
        await using var _2 = oldTab;
        var roomId = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song() }))!["room"]!["roomId"]!.GetValue<string>();
        var token = (await oldTab.InvokeAsync("JoinRoom", new { roomId }))!["resumeToken"]!.GetValue<string>();

        // The player opens the game in a second tab (or a phone reconnects while its old socket still lingers).
        await using var newTab = await HubClient.ConnectAsync(fixture.Host.BaseAddress, b.Token, protocol);
        await newTab.InvokeAsync("Resume", new { roomId, resumeToken = token });

        // The room tells the old tab's node one-way, so the old tab is refused once that has arrived.
        await Poll(async () =>
        {
            try
            {
                await oldTab.InvokeAsync("SetReady", new { ready = false, configLoaded = true });
                return false;
            }
            catch (HubException e) when (e.Message.StartsWith(RoomErrors.NotInRoom + ":", StringComparison.Ordinal))
            {
                return true;
            }
        });

        // Its leave would have freed the seat the new tab holds.
        await oldTab.FailsWithAsync(RoomErrors.NotInRoom, "LeaveRoom");
        var room = (await newTab.InvokeAsync("SetReady", new { ready = true, configLoaded = true }))!;
        Assert.Equal(2, room["players"]!.AsArray().Count);
        Assert.True(room["players"]![1]!["connected"]!.GetValue<bool>());
    }

    [Fact]
    public async Task An_idle_lobby_that_deactivates_comes_back_with_its_players_connected()
    {
        var (_, p1) = await fixture.PlayerAsync(Protocol.MessagePack, "A");
        var (_, p2) = await fixture.PlayerAsync(Protocol.Json, "B");
        await using var _1 = p1;
        await using var _2 = p2;
        var created = (await p1.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song(), config = new { level = 4 } }))!;
        var roomId = created["room"]!["roomId"]!.GetValue<string>();
        await p2.InvokeAsync("JoinRoom", new { roomId });
        await p1.InvokeAsync("UpdateSettings", new { showGhosts = false, allowSpectators = false });

        var grains = fixture.Host.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The next call reactivates the room from its persisted state; the nodes re-attach their connections.
        var view = (await p2.InvokeAsync("SetReady", new { ready = true, configLoaded = true }))!;
        Assert.Equal(4, view["config"]!["level"]!.GetValue<int>());
        Assert.Equal(2, view["players"]!.AsArray().Count);
        Assert.False(view["settings"]!["showGhosts"]!.GetValue<bool>());
        Assert.False(view["settings"]!["allowSpectators"]!.GetValue<bool>());
        Assert.True(view["settings"]!["showScores"]!.GetValue<bool>());

        // Loading that state must not leak into shared defaults: a new room without config gets {}.
        var (_, p3) = await fixture.PlayerAsync(Protocol.Json, "C");
        await using var _3 = p3;
        var fresh = (await p3.InvokeAsync("CreateRoom", new { mode = "runner", songId = Song() }))!;
        Assert.Empty(fresh["room"]!["config"]!.AsObject());
        Assert.True(fresh["room"]!["settings"]!["showGhosts"]!.GetValue<bool>());
        await p1.NextAsync("RoomState", r => r["players"]!.AsArray().All(p => p!["connected"]!.GetValue<bool>())
            && r["players"]![1]!["ready"]!.GetValue<bool>(), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void MessagePack_payloads_have_camelCase_keys_on_the_wire()
    {
        var options = fixture.Host.Services.GetRequiredService<IOptions<MessagePackHubProtocolOptions>>().Value.SerializerOptions;
        var view = new RoomView("r", "ACDEFG", "runner", "s", "lobby", 0, 2, RoomSettings.Default, new RawJson("""{"stems":["a"],"n":1.5}"""),
            [new RoomPlayerView(0, "p", "P", false, false, true, "#FFFFFF", 0.5, "")], 0, null);
        List<string> KeysOf(byte[] bytes)
        {
            var reader = new MessagePackReader(bytes);
            var keys = new List<string>();
            var count = reader.ReadMapHeader();
            for (var i = 0; i < count; i++)
            {
                keys.Add(reader.ReadString()!);
                if (keys[^1] == "config")
                {
                    // The opaque config is a real MessagePack map, not a JSON string.
                    Assert.Equal(MessagePackType.Map, reader.NextMessagePackType);
                }

                reader.Skip();
            }

            return keys;
        }

        // An optional member that is null is left out, as the JSON protocol leaves it out (a nullable one that
        // PROTOCOL does not mark optional, joinCode, is sent as null under both).
        Assert.Equal(["roomId", "joinCode", "mode", "songId", "state", "hostSeat", "maxPlayers", "settings", "config", "players", "spectators"],
            KeysOf(MessagePackSerializer.Serialize(view with { JoinCode = null }, options)));
        var countdown = MessagePackSerializer.Serialize(new RoomJoined(view with { StartsAt = 42 }, 0, "t"), options);
        Assert.Equal(42, MessagePackSerializer.Deserialize<RoomJoined>(countdown, options).Room.StartsAt);
        Assert.Equal("startsAt", KeysOf(MessagePackSerializer.Serialize(view with { StartsAt = 42 }, options))[^1]);
        var tick = MessagePackSerializer.Serialize(new TickEvent("r", 1, 2, 3, false, [new SeatTick(0, 1, 0, 0, 0, 0, "", 0, 0, true)]), options);
        var tickReader = new MessagePackReader(tick);
        tickReader.ReadMapHeader();
        Assert.Equal("roomId", tickReader.ReadString());
    }

    private static Task Poll(Func<Task<bool>> condition) => PlayMusic.TestSupport.Poll.UntilAsync(condition, "the condition holds");
}
