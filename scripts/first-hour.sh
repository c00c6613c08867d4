#!/usr/bin/env bash
# first-hour.sh replays a newcomer's first hour on a fresh clone of the committed tree:
# `make build`, `make run` until /readyz answers 200, `arqon publish` answered with a
# `delivered` ack, `arqon command status` answered with success, then SIGTERM, after which
# the server must exit 0. Only committed files are in the clone, so a file that exists
# only in a work tree, or an install step the README leaves out, fails it.
#
#   scripts/first-hour.sh          # or: make first-hour
#
# `make run` serves on a free loopback port (RUN_PORT), since 9100 may be taken. The build
# uses the caller's Go build and module caches. Progress lines go to stdout; on failure the
# server's log tail follows and the exit status is 1. The clone is removed and the server
# stopped on every path.
#
# Environment:
#   FIRST_HOUR_READY_TIMEOUT  seconds `make run` has to answer /readyz 200 (default 60)
#   FIRST_HOUR_STOP_TIMEOUT   seconds the server has to exit after SIGTERM (default 30)
set -euo pipefail

readonly READY_TIMEOUT="${FIRST_HOUR_READY_TIMEOUT:-60}"
readonly STOP_TIMEOUT="${FIRST_HOUR_STOP_TIMEOUT:-30}"

began=$SECONDS
log() { printf 'first-hour: [%3ds] %s\n' "$((SECONDS - began))" "$*"; }

tmp=""
make_pid=""
server_log=""

# fail prints why, the server's log tail when there is one, and exits 1 (cleanup runs).
fail() {
	log "FAIL: $*"
	if [[ -n "$server_log" && -s "$server_log" ]]; then
		echo "first-hour: last lines of the make run output:"
		tail -n 30 "$server_log" | sed 's/^/  | /'
	fi
	exit 1
}

# alive reports whether the `make run` process group still has a member.
alive() { [[ -n "$make_pid" ]] && kill -0 -- "-$make_pid" 2>/dev/null; }

cleanup() {
	local rc=$?
	if alive; then
		kill -TERM -- "-$make_pid" 2>/dev/null || true
		for _ in $(seq 50); do alive || break; sleep 0.1; done
		if alive; then kill -KILL -- "-$make_pid" 2>/dev/null || true; fi
	fi
	[[ -z "$tmp" ]] || rm -rf "$tmp"
	return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in git make curl setsid pgrep; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

# A newcomer's shell: no settings of an enclosing make or of an ArqonBus session.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES ARQON_URL ARQON_TOKEN
while read -r name; do unset "$name"; done < <(compgen -e | grep '^ARQONBUS_' || true)

top="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || fail "$(dirname "$0") is not in a git work tree"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/arqonbus-first-hour.XXXXXX")"
src="$tmp/arqonbus"
server_log="$tmp/make-run.log"

log "cloning $top at $(git -C "$top" rev-parse --short HEAD) (committed files only)"
git clone --quiet "$top" "$src" || fail "git clone $top"
cd "$src"

log "make build"
make build >"$tmp/make-build.log" 2>&1 || {
	tail -n 30 "$tmp/make-build.log" | sed 's/^/  | /'
	fail "make build"
}
for b in arqonbus arqon arqonbench; do [[ -x "bin/$b" ]] || fail "make build did not produce bin/$b"; done

# free_port prints a loopback port nothing listens on.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
		return
	fi
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}
port="$(free_port)" || fail "no free loopback port"
url="ws://127.0.0.1:$port/ws"

log "make run RUN_PORT=$port (in the background; /readyz within ${READY_TIMEOUT}s)"
# Its own process group, so cleanup reaches make and the server together.
setsid make run RUN_PORT="$port" >"$server_log" 2>&1 </dev/null &
make_pid=$!
deadline=$((SECONDS + READY_TIMEOUT))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null)" == 200 ]]; do
	kill -0 "$make_pid" 2>/dev/null || fail "make run exited before /readyz answered 200"
	((SECONDS < deadline)) || fail "/readyz on 127.0.0.1:$port did not answer 200 within ${READY_TIMEOUT}s"
	sleep 0.2
done
# The answer must come from this server, not from another process that took the port.
grep -q "arqonbus listening on 127.0.0.1:$port " "$server_log" ||
	fail "/readyz answered but make run never printed 'arqonbus listening on 127.0.0.1:$port'"
server_pid="$(pgrep -g "$make_pid" -x arqonbus | head -n 1)" || true
[[ -n "$server_pid" ]] || fail "no arqonbus process under make run"
log "ready: $(curl -s "http://127.0.0.1:$port/readyz")"

log "arqon publish science:explore '{\"text\":\"hello\"}'"
out="$(./bin/arqon --url "$url" publish science:explore '{"text":"hello"}' 2>&1)" ||
	fail "arqon publish exited non-zero: $out"
echo "  $out"
[[ "$out" == *'"type":"message_response"'* && "$out" == *'"delivered":'* ]] ||
	fail "arqon publish printed no ack with \"delivered\""

log "arqon command status"
out="$(./bin/arqon --url "$url" command status 2>&1)" ||
	fail "arqon command status exited non-zero: $out"
echo "  $out"
[[ "$out" == *'"status":"success"'* ]] || fail "arqon command status did not succeed"

log "SIGTERM to the server (pid $server_pid); it must exit 0 within ${STOP_TIMEOUT}s"
kill -TERM "$server_pid"
deadline=$((SECONDS + STOP_TIMEOUT))
while kill -0 "$make_pid" 2>/dev/null; do
	((SECONDS < deadline)) || fail "the server did not exit within ${STOP_TIMEOUT}s of SIGTERM"
	sleep 0.1
done
# make exits 0 only when its recipe, the server, did.
rc=0
wait "$make_pid" || rc=$?
make_pid=""
((rc == 0)) || fail "make run exited $rc after SIGTERM (the server must exit 0)"

log "passed: fresh clone built, served, published, answered status and stopped cleanly"
