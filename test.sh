#!/usr/bin/env bash
# Runs every test project against a throw-away PostgreSQL (or PLAYMUSIC_TEST_DB) and prints, as
# its last line, `tests: N passed, M failed` over all projects (skipped ones on the line before). Exits
# non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
root=$(pwd)
source scripts/postgres.sh

results=$(mktemp -d /tmp/playmusic-test-results.XXXXXX)
pg_root=""
cleanup() {
  if [ -n "$pg_root" ]; then
    pg_stop "$pg_root/data"
    rm -rf "$pg_root"
  fi
  rm -rf "$results"
}
trap cleanup EXIT

if [ -z "${PLAYMUSIC_TEST_DB:-}" ]; then
  pg_ensure_installed || { echo "tests: 0 passed, 1 failed"; exit 1; }
  pg_root=$(mktemp -d /tmp/playmusic-test-pg.XXXXXX)
  chmod 755 "$pg_root"
  port=$(free_port)
  # Throw-away and loopback-only: trust auth; fsync off because a host crash is not what we test
  # (process crashes are, and PostgreSQL's own durability does not depend on fsync for those).
  pg_init "$pg_root/data" trust
  pg_start "$pg_root/data" "$port" "$pg_root/data/server.log" -c fsync=off -c max_connections=400 -c shared_buffers=256MB \
    || { echo "could not start the test PostgreSQL:"; tail -n 20 "$pg_root/data/server.log"; echo "tests: 0 passed, 1 failed"; exit 1; }
  export PLAYMUSIC_TEST_DB="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres;Maximum Pool Size=50"
  echo "test PostgreSQL on 127.0.0.1:$port"
fi

# The official JavaScript SignalR client for OfficialJsClientTests, from the npm registry (as restore does for NuGet).
if ! command -v npm >/dev/null; then
  echo "npm not found: installing nodejs and npm with apt..."
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --prefix tests/JsClient --no-audit --no-fund --loglevel=error >/dev/null \
  || echo "npm ci in tests/JsClient failed: OfficialJsClientTests will fail"

status=0
dotnet build PlayMusic.sln -nologo -v q -clp:ErrorsOnly || { echo "tests: 0 passed, 1 failed"; exit 1; }
# One test project at a time (-m:1): the failover tests time real silos failing over, and on a 2-core CI
# machine they should not share it with five other projects' silos. A test that hangs (none should take a
# minute) is stopped after 4 minutes and reported, instead of using up CI's time.
dotnet test PlayMusic.sln --no-build -nologo -m:1 --blame-hang-timeout 4min --blame-hang-dump-type none --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@" || status=$?

passed=0 failed=0 skipped=0 reports=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  reports=$(( reports + 1 ))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { local n; n=$(echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'); echo "${n:-0}"; }
  passed=$(( passed + $(get passed) ))
  failed=$(( failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted) ))
  skipped=$(( skipped + $(get notExecuted) ))
  # A crashed or hung-and-killed test host leaves a report whose counters miss the tests it never
  # finished (often all of them): the crash itself counts as a failure, whatever else failed.
  if [ -z "$counters" ] || grep -q 'The active test run was aborted' "$trx"; then
    failed=$(( failed + 1 ))
  fi
done
if [ $# -eq 0 ]; then
  # A full run has one report per test project; a project that wrote none did not run.
  projects=$(ls tests/*/*.Tests.csproj | wc -l)
  [ "$reports" -lt "$projects" ] && failed=$(( failed + projects - reports ))
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # the runner itself failed (crash, build break): never report green
fi
# CI keeps only the end of the output: name each failed test, and its message, where that end shows it.
if [ "$failed" -gt 0 ] && command -v python3 >/dev/null; then
  python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for trx in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for result in ET.parse(trx).getroot().iterfind(".//t:UnitTestResult", ns):
        if result.get("outcome") in ("Passed", "NotExecuted"):
            continue
        message = result.findtext("t:Output/t:ErrorInfo/t:Message", "", ns).strip().splitlines()
        print(f"FAILED {result.get('testName')} ({result.get('duration')})")
        for line in message[:6]:
            print(f"    {line[:300]}")
PY
fi
echo "skipped: $skipped"
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
