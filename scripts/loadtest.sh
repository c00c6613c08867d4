#!/usr/bin/env bash
# Runs one arqonbench workload against a fresh arqonbus on loopback, the
# server pinned to CPU 0 and the load tool to CPU 1 (docs/performance.md).
#
#   scripts/loadtest.sh fanout --subscribers 1000 --rate 1000 --duration 10s
#   PERSIST=true scripts/loadtest.sh channels --clients 1000 --rate 10
#   REDIS=strict scripts/loadtest.sh channels --clients 1000 --rate 10
#   REDIS=strict scripts/loadtest.sh tasks --workers 8 --submitters 4 --tasks 20000 --rate max
#
# PERSIST (default false) turns history on (memory store). REDIS=strict or
# REDIS=degraded starts redis-server on CPU 0 too and stores there (the
# work queue too). The work-queue lane is open (ARQONBUS_ENABLE_PROTOTYPE_RSI);
# SERVER_ENV=ARQONBUS_TASK_PREFETCH=N sets the workers' prefetch.
# SERVER_ENV and TOOL_ENV add environment to the server and the tool, e.g.
# SERVER_ENV=GOGC=400 or SERVER_ENV=GODEBUG=gctrace=1 (the server's stderr
# is build/loadtest-server.log). SERVER_BIN runs another server binary
# (default bin/arqonbus), e.g. one built from an earlier commit, to compare
# two builds on the same machine and day. PORT (default 19100) is the
# server's port and PORT+1 Redis's; the run stops at once if one is taken,
# so it never measures another process's server. The JSON line of the run
# is printed on stdout, the summary on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,21p "$0"; exit 2; }
port=${PORT:-19100}
make -s build
mkdir -p build # the server's log goes to build/loadtest-server.log; a fresh clone has no build/
ulimit -n "$(ulimit -Hn)"

# in_use reports whether something accepts connections on 127.0.0.1:$1.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports=("$port")
[ -z "${REDIS:-}" ] || ports+=($((port + 1)))
for p in "${ports[@]}"; do
  if in_use "$p"; then
    echo "loadtest: 127.0.0.1:$p is in use; choose another PORT" >&2
    exit 1
  fi
done

env=(ARQONBUS_SERVER_PORT="$port" ARQONBUS_RATE_LIMIT_PER_SECOND=0 ARQONBUS_MAX_CONNECTIONS=25000
  ARQONBUS_LOG_LEVEL=warn ARQONBUS_ENABLE_PERSISTENCE="${PERSIST:-false}" ARQONBUS_ENABLE_PROTOTYPE_RSI=true)
redis_pid=""
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT
if [ -n "${REDIS:-}" ]; then
  rport=$((port + 1))
  taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  env+=(ARQONBUS_ENABLE_PERSISTENCE=true ARQONBUS_STORAGE_BACKEND=redis ARQONBUS_STORAGE_MODE="$REDIS"
    ARQONBUS_REDIS_URL="redis://127.0.0.1:$rport/0")
fi
env "${env[@]}" ${SERVER_ENV:-} taskset -c 0 "${SERVER_BIN:-bin/arqonbus}" serve >/dev/null 2>build/loadtest-server.log &
server_pid=$!
ready=""
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$port/readyz" >/dev/null && { ready=1; break; }
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ] || ! kill -0 "$server_pid" 2>/dev/null; then
  echo "loadtest: the server did not become ready on 127.0.0.1:$port; build/loadtest-server.log:" >&2
  tail -n 20 build/loadtest-server.log >&2
  exit 1
fi
env ${TOOL_ENV:-} taskset -c 1 bin/arqonbench "$@" --url "ws://127.0.0.1:$port/ws" --server-pid "$server_pid" \
  --metrics-url "http://127.0.0.1:$port/metrics" --json
