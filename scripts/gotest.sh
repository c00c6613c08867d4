#!/usr/bin/env bash
# gotest.sh NAME [go test flags and packages] runs one test tier's `go test`
# through gotestsum (built by `make tools`): the output is go test's own
# (standard-quiet), followed by gotestsum's summary of skipped and failed
# tests, and the tier's counts are written to build/tiers/NAME.counts for the
# summary `make test-all` prints at the end. The exit status is go test's.
#
#   scripts/gotest.sh unit -race -count=1 ./internal/...
#
# The full event stream goes to build/tiers/NAME.json (`gotestsum tool
# slowest --jsonfile build/tiers/NAME.json` lists the slowest tests).
set -euo pipefail
cd "$(dirname "$0")/.."
readonly dir="${TIERS:-build/tiers}" gotestsum=build/tools/gotestsum

if [[ "${1:-}" == --record ]]; then
	# Called by gotestsum after the run, with the counts in its environment.
	printf 'total=%s failed=%s skipped=%s errors=%s elapsed=%s\n' \
		"${TESTS_TOTAL:-0}" "${TESTS_FAILED:-0}" "${TESTS_SKIPPED:-0}" "${TESTS_ERRORS:-0}" \
		"${GOTESTSUM_ELAPSED:-?}" >"$2"
	exit 0
fi

[[ $# -ge 2 ]] || { echo "usage: $0 NAME [go test flags] PACKAGES..." >&2; exit 2; }
[[ -x "$gotestsum" ]] || { echo "gotest: $gotestsum is missing: run 'make tools'" >&2; exit 2; }
name="$1"
shift
mkdir -p "$dir"
rm -f "$dir/$name.counts" "$dir/$name.skipped"
exec "$gotestsum" --format standard-quiet --jsonfile "$dir/$name.json" \
	--post-run-command "scripts/gotest.sh --record $dir/$name.counts" -- "$@"
