#!/usr/bin/env bash
# Runs the PlayMusic backend. See README.md.
#   ./run.sh                     one process: Orleans silo + API on PLAYMUSIC_URLS (default http://127.0.0.1:5080)
#   ./run.sh migrate             applies the database migrations and exits
#   ./run.sh token --role admin|player [--subject <player uuid>] [--name N] [--ttl 1h]   prints a signed JWT
#   ./run.sh cluster [--silos N] [--api M]   N standalone silos + M client-only API nodes on one PostgreSQL
# Without PLAYMUSIC_DB a local PostgreSQL is created (first run) and started under ./.data/pg.
set -euo pipefail
# Absolute, from where the caller stands: the PostgreSQL commands run from / (scripts/postgres.sh).
[ -n "${PLAYMUSIC_DATA_DIR:-}" ] && PLAYMUSIC_DATA_DIR=$(realpath -m "$PLAYMUSIC_DATA_DIR")
cd "$(dirname "$0")"
root=$(pwd)
source scripts/postgres.sh

export PLAYMUSIC_DATA_DIR=${PLAYMUSIC_DATA_DIR:-$root/.data}
# A 64 MB gen0 budget (the runtime reads it only from the environment): with the default of a few MB, requests
# waiting ~50 ms for their group commit outlived every gen0 collection and each one was a gen1 (docs/benchmarks.md).
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x4000000}
api_dll=$root/src/Api/bin/Release/net10.0/PlayMusic.Api.dll
silo_dll=$root/src/Silo/bin/Release/net10.0/PlayMusic.Silo.dll
started_pg=""

build() {
  local project
  for project in "$@"; do
    dotnet build "$root/src/$project/$project.csproj" -c Release -nologo -v q -clp:"ErrorsOnly;NoSummary" >&2
  done
}

# Ensures PLAYMUSIC_DB points at a database: the given one, or the local server under ./.data/pg.
ensure_database() {
  [ -n "${PLAYMUSIC_DB:-}" ] && return 0
  pg_ensure_installed
  local pg_root=$PLAYMUSIC_DATA_DIR/pg port=${PLAYMUSIC_PG_PORT:-55432}
  mkdir -p "$PLAYMUSIC_DATA_DIR"
  # Two runs starting together on one data folder would both create (or start) the server: one at a time.
  exec 9>"$PLAYMUSIC_DATA_DIR/.setup.lock"
  flock 9
  pg_prepare_dir "$pg_root"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$pg_root"; then
    echo "the postgres user cannot reach $pg_root (a parent folder is private); set PLAYMUSIC_DB or move the checkout" >&2
    exit 1
  fi
  if [ ! -f "$pg_root/password" ]; then
    head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pg_root/password"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_root/password"
    chmod 600 "$pg_root/password"
  fi
  pg_init "$pg_root/data" scram-sha-256 "$pg_root/password"
  if ! pg_is_running "$pg_root/data"; then
    if port_in_use "$port"; then
      echo "port $port is taken by something else: set PLAYMUSIC_PG_PORT" >&2
      exit 1
    fi
    echo "starting local PostgreSQL on 127.0.0.1:$port (data in $pg_root/data)" >&2
    # Each process pools up to 52 connections (docs/platform.md): room for `./run.sh cluster` and an operator's psql.
    pg_start "$pg_root/data" "$port" "$pg_root/server.log" -c max_connections=300
    started_pg=$pg_root/data
  fi
  local password
  password=$(cat "$pg_root/password")
  export PGPASSWORD=$password
  if ! psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='playmusic'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE playmusic" >/dev/null
  fi
  unset PGPASSWORD
  export PLAYMUSIC_DB="Host=127.0.0.1;Port=$port;Username=postgres;Password=$password;Database=playmusic"
  # Recorded so that `dotnet run --project src/Silo` started by hand finds the same database.
  (umask 077; echo "$PLAYMUSIC_DB" > "$PLAYMUSIC_DATA_DIR/database.conn")
  exec 9>&-
}

stop_started_pg() {
  if [ -n "$started_pg" ]; then
    echo "stopping local PostgreSQL" >&2
    pg_stop "$started_pg"
  fi
}

wait_ready() {
  local url=$1 name=$2
  for _ in $(seq 1 120); do
    curl -sf "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "$name did not become ready at $url (see its log)" >&2
  return 1
}

# Starts N silos, then M client-only API nodes, each its own process with a pid file and a log
# under .data/cluster/, and stops them all on Ctrl-C/SIGTERM.
run_cluster() {
  local silos=2 apis=2
  while [ $# -gt 0 ]; do
    case "$1" in
      --silos) silos=$2; shift 2 ;;
      --api) apis=$2; shift 2 ;;
      *) echo "usage: ./run.sh cluster [--silos N] [--api M]" >&2; exit 2 ;;
    esac
  done
  local dir=$PLAYMUSIC_DATA_DIR/cluster base_url=${PLAYMUSIC_URLS:-http://127.0.0.1:5080}
  local base_port=${base_url##*:}
  base_port=${base_port%%/*}
  mkdir -p "$dir"
  local pids=() i
  stop_cluster() {
    trap - INT TERM
    echo "stopping the cluster" >&2
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    rm -f "$dir"/*.pid
  }
  trap 'stop_cluster; exit 130' INT TERM
  for i in $(seq 1 "$silos"); do
    PLAYMUSIC_SILO_PORT=$((11110 + i)) PLAYMUSIC_GATEWAY_PORT=$((29999 + i)) PLAYMUSIC_URLS=http://127.0.0.1:$((base_port + 10 + i)) \
      dotnet "$silo_dll" > "$dir/silo-$i.log" 2>&1 &
    pids+=($!); echo $! > "$dir/silo-$i.pid"
  done
  for i in $(seq 1 "$silos"); do wait_ready "http://127.0.0.1:$((base_port + 10 + i))" "silo-$i" || { stop_cluster; exit 1; }; done
  for i in $(seq 1 "$apis"); do
    PLAYMUSIC_ROLE=api PLAYMUSIC_URLS=http://127.0.0.1:$((base_port + i - 1)) dotnet "$api_dll" > "$dir/api-$i.log" 2>&1 &
    pids+=($!); echo $! > "$dir/api-$i.pid"
  done
  for i in $(seq 1 "$apis"); do wait_ready "http://127.0.0.1:$((base_port + i - 1))" "api-$i" || { stop_cluster; exit 1; }; done
  echo "cluster up: $silos silos (ops on ports $((base_port + 11))..$((base_port + 10 + silos))), API on ports $base_port..$((base_port + apis - 1)); logs and pids in $dir (Ctrl-C stops it)" >&2
  wait
  stop_cluster
}

# Runs one .NET process in the foreground, forwarding Ctrl-C/SIGTERM so it shuts down cleanly.
run_forwarding_signals() {
  "$@" &
  local pid=$!
  trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
  local status=0
  wait "$pid" || status=$?
  # wait returns early when a trapped signal arrives; wait again for the real exit.
  while kill -0 "$pid" 2>/dev/null; do wait "$pid" || status=$?; done
  trap - INT TERM
  return "$status"
}

verb=${1:-serve}
case "$verb" in
  token)
    shift
    build Api
    exec dotnet "$api_dll" token "$@"
    ;;
  migrate)
    build Api
    trap stop_started_pg EXIT
    ensure_database
    dotnet "$api_dll" migrate
    ;;
  cluster)
    shift
    build Api Silo
    trap stop_started_pg EXIT
    ensure_database
    run_cluster "$@"
    ;;
  serve)
    export PLAYMUSIC_URLS=${PLAYMUSIC_URLS:-http://127.0.0.1:5080}
    # A backend left running (its ./run.sh was killed with SIGKILL, which cannot stop the app) holds the port.
    first_url=${PLAYMUSIC_URLS%%;*}
    api_port=${first_url##*:}
    api_port=${api_port%%/*}
    if [[ "$api_port" =~ ^[0-9]+$ ]] && port_in_use "$api_port"; then
      echo "port $api_port is in use: is an earlier ./run.sh still running (pgrep -af PlayMusic.Api)? Stop it, or set PLAYMUSIC_URLS" >&2
      exit 1
    fi
    build Api
    trap stop_started_pg EXIT
    ensure_database
    echo "PlayMusic backend on $PLAYMUSIC_URLS (Ctrl-C stops it)" >&2
    run_forwarding_signals dotnet "$api_dll"
    ;;
  *)
    echo "usage: ./run.sh [serve|migrate|cluster [--silos N] [--api M]|token --role admin|player [--subject <player uuid>] [--name N] [--ttl 1h]]" >&2
    exit 2
    ;;
esac
