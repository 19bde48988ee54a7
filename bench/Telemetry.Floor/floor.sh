#!/usr/bin/env bash
# The telemetry ingest's floor (docs/benchmarks.md): bench/Telemetry.Floor and a throw-away PostgreSQL 15
# (default durability, the same server settings run.sh uses) pinned to CPU 0, bench/Telemetry.Bench on
# CPU 1 with the real bench's load, once per store kind. Prints the bench's ingest, /healthz and ratio lines.
# Tunables: STORES (default "none log rows"), RUNS per store (default 2), SECONDS_PER_RUN (8), WARMUP (30), CONCURRENCY (32).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/postgres.sh
pg_ensure_installed
dotnet build bench/Telemetry.Floor -c Release -nologo -v q -clp:"ErrorsOnly;NoSummary"
dotnet build bench/Telemetry.Bench -c Release -nologo -v q -clp:"ErrorsOnly;NoSummary"

work=$(mktemp -d /tmp/playmusic-telemetry-floor.XXXXXX)
chmod 755 "$work"
floor_pid=""
cleanup() { [ -n "$floor_pid" ] && kill "$floor_pid" 2>/dev/null; pg_stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
pg_port=$(free_port)
pg_init "$work/pg" trust
taskset -c 0 bash -c "source scripts/postgres.sh; PG_BIN=$PG_BIN; pg_start '$work/pg' $pg_port '$work/pg/server.log'"
postmaster=$(head -1 "$work/pg/postmaster.pid")

for store in ${STORES:-none log rows}; do
  url=http://127.0.0.1:$(free_port)
  taskset -c 0 dotnet bench/Telemetry.Floor/bin/Release/net10.0/PlayMusic.Telemetry.Floor.dll --urls "$url" --store "$store" \
    --connection "Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres" &
  floor_pid=$!
  for _ in $(seq 1 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.2; done
  for run in $(seq 1 "${RUNS:-2}"); do
    echo "--- store=$store run $run"
    taskset -c 1 dotnet bench/Telemetry.Bench/bin/Release/net10.0/PlayMusic.Telemetry.Bench.dll --url "$url" \
      --seconds "${SECONDS_PER_RUN:-8}" --warmup "${WARMUP:-30}" --concurrency "${CONCURRENCY:-32}" \
      --server-pid "$floor_pid" --db-pid "$postmaster"
  done
  kill "$floor_pid"; wait "$floor_pid" 2>/dev/null || true; floor_pid=""
done
