# Local PostgreSQL helpers shared by run.sh and test.sh (sourced, not executed).
# PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user.

# PostgreSQL 15 or later: the grain-storage migration uses a unique index with NULLS NOT DISTINCT.
pg_bin_dir() {
  local dir version
  for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    version=$(basename "$(dirname "$dir")")
    if [ "${version%%.*}" -ge 15 ] 2>/dev/null && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

pg_ensure_installed() {
  if ! pg_bin_dir >/dev/null; then
    echo "PostgreSQL server binaries not found: installing the postgresql package with apt..." >&2
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
  fi
  PG_BIN=$(pg_bin_dir) || { echo "PostgreSQL 15 or later is still missing (an older distribution's postgresql package is older: install postgresql-15)" >&2; return 1; }
}

# Runs a command as the PostgreSQL OS user: `postgres` when we are root, ourselves otherwise. As
# `postgres` it runs from /, since the checkout may sit in a folder that user cannot enter (initdb and
# pg_ctl step out of the current folder and back). Paths given to it must therefore be absolute.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# pg_prepare_dir DIR: creates DIR (owned by the server's user) if missing.
pg_prepare_dir() {
  mkdir -p "$1"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$1"; fi
  chmod 700 "$1"
}

# pg_init DATA_DIR AUTH [PWFILE]: initdb once; AUTH is trust or scram-sha-256.
pg_init() {
  local data=$1 auth=$2 pwfile=${3:-}
  [ -f "$data/PG_VERSION" ] && return 0
  pg_prepare_dir "$data"
  local args=(-D "$data" -U postgres -A "$auth" -E UTF8 --locale=C.UTF-8)
  [ -n "$pwfile" ] && args+=("--pwfile=$pwfile")
  pg_as_owner "$PG_BIN/initdb" "${args[@]}" >/dev/null
}

pg_is_running() { pg_as_owner "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }

# pg_start DATA_DIR PORT LOGFILE [extra server options]: listens on 127.0.0.1 only, and on no Unix
# socket: every client here connects over TCP, and a socket path inside the checkout breaks on a path
# with spaces (pg_ctl hands these options to a shell) or longer than the 107 bytes a socket path may have.
pg_start() {
  local data=$1 port=$2 log=$3; shift 3
  pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' $*" start >/dev/null
}

pg_stop() { pg_as_owner "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port below Linux' ephemeral range (32768-60999), so no outbound connection takes it
# between this check and the server's bind.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 12768 ))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  return 1
}
