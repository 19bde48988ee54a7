#!/usr/bin/env bash
# Runs the leaderboard benchmark against a throw-away PostgreSQL (default durability: fsync and
# synchronous_commit on) and a throw-away redis-server with Redis' default persistence (RDB
# snapshots, no AOF: a write is acknowledged from memory, never fsynced first), all on free ports
# and stopped on exit. Tunables: ENTRIES, CONCURRENCY, PHASE_SECONDS, ROUNDS (paired grain/Redis submit
# phases, default 3; the ratio is their median), COMPACT_SECONDS (the boards'
# compaction interval, default 3600: none during the phases), PG_OPTIONS (extra server
# options, e.g. "-c fsync=off" to see what the disk flush costs), REDIS_ALWAYS=1 (also measure
# ZADD on a second redis-server with appendonly yes + appendfsync always, i.e. fsync before every
# reply, the durability the grain gives), PIN=1 (servers on CPU 1, the bench process on CPU 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/postgres.sh
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server"; exit 1; }

work=$(mktemp -d /tmp/playmusic-bench.XXXXXX)
chmod 755 "$work"
redis_pids=()
cleanup() {
  for pid in "${redis_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  pg_stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

server_cpus=() bench_cpus=()
if [ "${PIN:-0}" = 1 ]; then server_cpus=(taskset -c 1) bench_cpus=(taskset -c 0); fi

pg_ensure_installed
pg_port=$(free_port)
pg_init "$work/pg" trust
pg_start "$work/pg" "$pg_port" "$work/pg/server.log" -c max_connections=200 ${PG_OPTIONS:-}
export PG_PID=$(head -1 "$work/pg/postmaster.pid")
if [ "${PIN:-0}" = 1 ]; then # backends forked later inherit the postmaster's affinity
  for pid in "$PG_PID" $(pgrep -P "$PG_PID"); do taskset -a -cp 1 "$pid" >/dev/null; done
fi

start_redis() { # start_redis DIR [options]: sets redis_port, appends the pid to redis_pids
  local dir=$1; shift
  mkdir -p "$dir"
  redis_port=$(free_port)
  "${server_cpus[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" "$@" >"$dir/redis.log" 2>&1 &
  redis_pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start:"; cat "$dir/redis.log"; exit 1
}
start_redis "$work/redis"
export REDIS="127.0.0.1:$redis_port" REDIS_PID=${redis_pids[0]}
if [ "${REDIS_ALWAYS:-0}" = 1 ]; then
  start_redis "$work/redis-always" --appendonly yes --appendfsync always --save ""
  export REDIS_ALWAYS="127.0.0.1:$redis_port" REDIS_ALWAYS_PID=${redis_pids[1]}
fi

export PLAYMUSIC_DB="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres;Maximum Pool Size=64"
export SILO_PORT=$(free_port) GATEWAY_PORT=$(free_port)
dotnet build -c Release -v q bench/Leaderboard.Bench >/dev/null
"${bench_cpus[@]}" dotnet bench/Leaderboard.Bench/bin/Release/net10.0/PlayMusic.Leaderboard.Bench.dll
