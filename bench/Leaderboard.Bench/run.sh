#!/usr/bin/env bash
# Runs the leaderboard benchmark against a throw-away PostgreSQL (default settings: fsync and
# synchronous_commit on) and a throw-away redis-server (loopback, AOF appendfsync everysec), both
# on free ports and both stopped on exit. Tunables: ENTRIES, CONCURRENCY, PHASE_SECONDS, PG_OPTIONS
# (extra server options, e.g. "-c fsync=off" to see what the disk flush costs).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/postgres.sh
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server"; exit 1; }

work=$(mktemp -d /tmp/playmusic-bench.XXXXXX)
chmod 755 "$work"
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  pg_stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

pg_ensure_installed
pg_port=$(free_port)
pg_init "$work/pg" trust
pg_start "$work/pg" "$pg_port" "$work/pg/server.log" -c max_connections=200 ${PG_OPTIONS:-}
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!

export PLAYMUSIC_DB="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres;Maximum Pool Size=64"
export REDIS="127.0.0.1:$redis_port"
export SILO_PORT=$(free_port) GATEWAY_PORT=$(free_port)
dotnet run -c Release --project bench/Leaderboard.Bench
