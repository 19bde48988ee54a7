// PROTOCOL §2 as a browser engine speaks it: the official @microsoft/signalr client over WebSockets.
// usage: node rooms-check.mjs <base url> json|msgpack [WebSockets|ServerSentEvents|LongPolling]
// (exit 0 when every check passed)
// What only this client shows: how JavaScript numbers are encoded (1.0 goes out as the integer 1 in
// MessagePack), that `send` (fire-and-forget) inputs are relayed, and what the client makes of the
// server's errors and camelCase payloads.
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

const [base, protocol, transport = "WebSockets"] = process.argv.slice(2);
if (!base || !["json", "msgpack"].includes(protocol) || signalR.HttpTransportType[transport] === undefined) {
  console.error("usage: node rooms-check.mjs <base url> json|msgpack [WebSockets|ServerSentEvents|LongPolling]");
  process.exit(2);
}

const events = ["RoomState", "Countdown", "Tick", "Stems", "Emote", "PlayerLeft", "Results"];
let failures = 0;
const check = (ok, what) => {
  if (!ok) failures++;
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
};

async function guest(displayName) {
  const response = await fetch(`${base}/api/auth/guest`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ displayName }),
  });
  return response.json();
}

async function connect(token) {
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(`${base}/hubs/game`, { accessTokenFactory: () => token, transport: signalR.HttpTransportType[transport] })
    .configureLogging(signalR.LogLevel.Warning);
  if (protocol === "msgpack") builder.withHubProtocol(new MessagePackHubProtocol());
  const connection = builder.build();
  for (const name of events) connection.on(name, () => {});
  await connection.start();
  return connection;
}

// Generous: a loaded CI machine, and the slower fallback transports.
function next(connection, event, predicate = () => true, ms = 30000) {
  return new Promise((resolve, reject) => {
    const handler = (payload) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      connection.off(event, handler);
      resolve(payload);
    };
    const timer = setTimeout(() => { connection.off(event, handler); reject(new Error(`no ${event} within ${ms} ms`)); }, ms);
    connection.on(event, handler);
  });
}

async function fails(promise, code, what) {
  try {
    await promise;
    check(false, `${what}: expected ${code}, got a result`);
  } catch (error) {
    check(String(error.message).includes(`${code}: `), `${what} → ${error.message}`);
  }
}

const input = (seq, score, extra = {}) =>
  ({ seq, songTimeMs: 1000 + seq * 33, x: 1, y: 0, z: 2.25, lane: 2, anim: "run", score, combo: 1, ...extra });

async function headToHead() {
  const [ann, bob, cat] = await Promise.all([guest("Ann"), guest("Bob"), guest("Cat")]);
  const [a, b, c] = await Promise.all([connect(ann.token), connect(bob.token), connect(cat.token)]);

  await fails(a.invoke("CreateRoom", { mode: "flight", songId: "js-song" }), "MODE_NOT_MULTIPLAYER", "CreateRoom flight");
  await fails(a.invoke("CreateRoom", { mode: "runner", songId: "no spaces!" }), "INVALID_ARGUMENT", "CreateRoom with a bad songId");
  const config = { speed: 1.5, stems: ["drums", "bass"], nested: { list: [1, 2.5, "x", null, true] } };
  const created = await a.invoke("CreateRoom", { mode: "runner", songId: "js-song", songDurationMs: 10000, config });
  check(created.seat === 0 && typeof created.resumeToken === "string" && created.room.state === "lobby", "CreateRoom → RoomJoined, seat 0");
  // PROTOCOL's optional startsAt? is absent in a lobby under both protocols (not null under MessagePack).
  check(!("startsAt" in created.room), `a lobby has no startsAt key (${JSON.stringify(created.room.startsAt)})`);
  check(JSON.stringify(created.room.config) === JSON.stringify(config), `config round-trips: ${JSON.stringify(created.room.config)}`);
  const roomId = created.room.roomId;

  await fails(b.invoke("JoinRoom", { roomId, joinCode: created.room.joinCode }), "INVALID_ARGUMENT", "JoinRoom with both roomId and joinCode");
  const joined = await b.invoke("JoinRoom", { joinCode: created.room.joinCode.toLowerCase() });
  check(joined.seat === 1 && joined.room.roomId === roomId && joined.room.config.speed === 1.5, "JoinRoom by lower-case code: seat 1, host's config");
  const watching = await c.invoke("Spectate", { roomId });
  check(watching.room.roomId === roomId && Object.keys(watching).join() === "room", "Spectate → SpectatorJoined");

  await fails(a.invoke("SetReady", { ready: true, configLoaded: false }), "CONFIG_NOT_LOADED", "SetReady before the config loaded");
  await fails(b.invoke("UpdateSettings", { showGhosts: false }), "NOT_HOST", "UpdateSettings by a guest");
  const customized = await a.invoke("Customize", { ghostColor: "#FF00AA", ghostOpacity: 1, avatarId: "cat" });
  check(customized.players[0].ghostOpacity === 1 && customized.players[0].avatarId === "cat", "Customize with an integral opacity (1)");

  const countdown = next(c, "Countdown");
  await a.invoke("SetReady", { ready: true, configLoaded: true });
  const before = Date.now();
  await b.invoke("SetReady", { ready: true, configLoaded: true });
  const started = await countdown;
  const after = Date.now();
  // 3 s after the last SetReady, rounded up to the 100 ms tick grid: bounded by clock readings around that call.
  check(started.roomId === roomId && started.seconds === 3 && started.startsAt >= before + 3000 && started.startsAt <= after + 3100,
    `Countdown with startsAt ${started.startsAt} in [${before + 3000}, ${after + 3100}]`);
  await next(b, "Tick");

  const relayed = next(b, "Tick", (t) => t.players.some((p) => p.seat === 0 && p.seq === 7));
  const watched = next(c, "Tick", (t) => t.players.some((p) => p.seat === 0 && p.seq === 7));
  await a.send("SendInput", input(7, 10));
  const tick = await relayed;
  await watched;
  const ghost = tick.players.find((p) => p.seat === 0);
  check(Object.keys(tick).join() === "roomId,tick,serverTime,songTimeMs,full,players", `Tick keys: ${Object.keys(tick)}`);
  check(Object.keys(ghost).join() === "seat,seq,x,y,z,lane,anim,score,combo,connected", `ghost keys: ${Object.keys(ghost)}`);
  check(ghost.x === 1 && ghost.z === 2.25 && ghost.score === 10 && ghost.connected === true, "a sent input reaches the other player and the spectator");

  await fails(a.invoke("SendInput", input(8, 10, { lane: 9 })), "INVALID_ARGUMENT", "SendInput lane 9");
  await fails(a.invoke("SendInput", input(9, 5)), "INVALID_ARGUMENT", "SendInput with a lower score");
  await fails(a.invoke("SendInput", input(7, 10)), "INVALID_ARGUMENT", "SendInput repeating a seq");

  const emote = next(b, "Emote");
  await a.invoke("Emote", { emote: "wave" });
  check((await emote).emote === "wave", "Emote relayed");
  // A burst sent without waiting between calls: the bucket holds at most 3 and refills 1 per second, so all 8
  // could pass only if 5 s went by within the burst.
  const burst = await Promise.allSettled(Array.from({ length: 8 }, () => a.invoke("Emote", { emote: "gg" })));
  const refusals = burst.filter((r) => r.status === "rejected").map((r) => String(r.reason.message));
  check(refusals.length > 0 && refusals.every((m) => m.startsWith("RATE_LIMITED: ")),
    `a burst of 8 emotes is rate limited: ${refusals.length} refused (${refusals[0]})`);
  await fails(a.invoke("TriggerStem", { stemId: "drums", active: true }), "INVALID_ARGUMENT", "TriggerStem in a runner room");

  const live = await c.invoke("ListLiveRooms", { mode: "runner", limit: 100 });
  check(live.some((r) => r.roomId === roomId && r.players === 2 && r.spectators === 1), "ListLiveRooms lists the match");

  // Bob's Wi-Fi drops: the others see him disconnected, a new connection resumes his seat.
  await b.stop();
  const dropped = next(a, "Tick", (t) => t.players.some((p) => p.seat === 1 && p.connected === false));
  check(await dropped.then(() => true, () => false), "the others see connected: false");
  const back = await connect(bob.token);
  await fails(back.invoke("Resume", { roomId, resumeToken: created.resumeToken }), "UNAUTHORIZED", "Resume with someone else's token");
  // No tick before the Resume: the refused one left the connection out of the room.
  const first = next(back, "Tick");
  const resumed = await back.invoke("Resume", { roomId, resumeToken: joined.resumeToken });
  check(resumed.seat === 1 && resumed.room.roomId === roomId, "Resume → the same seat");
  const keyframe = await first;
  check(keyframe.full === true && keyframe.players.length === 2, `the first tick after Resume is a full keyframe (full: ${keyframe.full})`);

  const results = next(c, "Results");
  await a.invoke("Finish", { score: 10 });
  await back.invoke("Finish", { score: 0 });
  const finished = await results;
  check(!("coopScore" in finished), "head-to-head Results have no coopScore key");
  const ranking = finished.ranking;
  check(ranking.length === 2 && ranking[0].playerId === ann.playerId && ranking[0].rank === 1 && ranking[0].displayName === "Ann", "Results rank the players");
  await Promise.all([a.stop(), back.stop(), c.stop()]);
}

async function duet() {
  const [ann, bob] = await Promise.all([guest("Ann"), guest("Bob")]);
  const [a, b] = await Promise.all([connect(ann.token), connect(bob.token)]);
  const song = `duet-${Date.now()}`;
  const [first, second] = await Promise.all([
    a.invoke("QuickMatch", { mode: "duet", songId: song }),
    b.invoke("QuickMatch", { mode: "duet", songId: song }),
  ]);
  check(first.room.roomId === second.room.roomId && first.seat !== second.seat, "two concurrent QuickMatch calls share one room");
  const countdown = next(a, "Countdown");
  await a.invoke("SetReady", { ready: true, configLoaded: true });
  await b.invoke("SetReady", { ready: true, configLoaded: true });
  await countdown;
  await next(a, "Tick");
  const stems = next(b, "Stems");
  await a.invoke("TriggerStem", { stemId: "bass", active: true });
  const changed = await stems;
  check(changed.stems.bass === true && changed.stems.drums === false && typeof changed.coopScore === "number", `Stems: ${JSON.stringify(changed)}`);
  await fails(a.invoke("TriggerStem", { stemId: "kazoo", active: true }), "INVALID_ARGUMENT", "TriggerStem with an unknown stem");
  const left = next(a, "PlayerLeft");
  await b.invoke("LeaveRoom");
  const gone = await left;
  check(gone.reason === "left" && gone.playerId === bob.playerId, "LeaveRoom → PlayerLeft reason left");
  await fails(b.invoke("SendInput", input(1, 0)), "NOT_IN_ROOM", "SendInput after LeaveRoom");
  await Promise.all([a.stop(), b.stop()]);
}

// A 16 KiB config is valid whatever the protocol makes of it (this client writes 0.5 as a 9-byte float64 in
// MessagePack: ~36 KB), and one past the limit is refused on a connection that stays open.
async function configSizes() {
  const carol = await guest("Carol");
  const c = await connect(carol.token);
  const floats = await c.invoke("CreateRoom", { mode: "runner", songId: "js-config", config: { data: new Array(4000).fill(0.5) } });
  check(floats.room.state === "lobby", "CreateRoom with ~16 KB of fractional numbers in its config");
  await fails(c.invoke("CreateRoom", { mode: "runner", songId: "js-config", config: { s: "a".repeat(40000) } }), "INVALID_ARGUMENT",
    "CreateRoom with a 40 KB config");
  check(Array.isArray(await c.invoke("ListLiveRooms")), "the connection is still open after the refusal");
  await c.stop();
}

try {
  await headToHead();
  await duet();
  await configSizes();
} catch (error) {
  failures++;
  console.log(`FAIL ${error.stack ?? error}`);
}
console.log(failures === 0 ? `${protocol} over ${transport}: all checks passed` : `${protocol} over ${transport}: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
