#!/usr/bin/env bash
# mutation.sh runs gremlins (pinned in tools/go.mod) over the core packages, one package at a
# time, and writes a table of killed, lived, not covered, timed out and not viable mutants,
# efficacy and wall time per package to build/mutation.txt, followed by every lived mutant.
#
#   scripts/mutation.sh                          # or: make mutation
#   scripts/mutation.sh internal/bus internal/protocol
#
# Each mutant is tested by its own package's tests (`go test <pkg>`), so only tests beside the
# code count; a mutant that only test/unit or a later tier would kill shows as lived. Each row
# is one package: files in its subdirectories are left out (internal/store is the policy,
# not memstore or redisstore). Efficacy is killed / (killed + lived), as gremlins computes it.
#
# gremlins copies the whole module for its work directory and runs the coverage step in
# place, so the script first snapshots the work tree's source (tracked and untracked files
# that are not ignored; no build/ or bin/) into a temporary directory and runs there: edits
# made while it runs do not change the result. The snapshot is removed on every path.
#
# Environment:
#   GREMLINS                      the gremlins binary (default build/tools/gremlins)
#   MUTATION_OUT                  the table (default build/mutation.txt); per-package JSON and
#                                 logs go to build/mutation/
#   MUTATION_WORKERS              gremlins --workers (default 1: the tests are timing-sensitive)
#   MUTATION_TIMEOUT_COEFFICIENT  gremlins --timeout-coefficient: a mutant times out after this
#                                 many times the coverage run's duration (default 3)
set -euo pipefail

readonly DEFAULT_PKGS=(
	internal/bus
	internal/protocol
	internal/store
	internal/command
	internal/auth
	internal/config
	internal/transport/ws
	internal/broker
)

root=$(cd "$(dirname "$0")/.." && pwd)
gremlins="${GREMLINS:-$root/build/tools/gremlins}"
out="${MUTATION_OUT:-$root/build/mutation.txt}"
detail="$root/build/mutation"
workers="${MUTATION_WORKERS:-1}"
coefficient="${MUTATION_TIMEOUT_COEFFICIENT:-3}"

if [[ ! -x "$gremlins" ]]; then
	echo "mutation: $gremlins not found; run make mutation (it builds it)" >&2
	exit 1
fi
if ! command -v jq >/dev/null; then
	echo "mutation: jq is needed to read gremlins' JSON results" >&2
	exit 1
fi

pkgs=("$@")
if [[ ${#pkgs[@]} -eq 0 ]]; then
	pkgs=("${DEFAULT_PKGS[@]}")
fi

snapshot=$(mktemp -d "${TMPDIR:-/tmp}/arqonbus-mutation-XXXXXX")
trap 'rm -rf "$snapshot"' EXIT
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do if [[ -f "$f" ]]; then printf '%s\0' "$f"; fi; done |
	tar --null -T - -cf - | tar -xf - -C "$snapshot")

# count STATUS JSON prints how many mutants in gremlins' JSON result have that status.
count() { jq --arg s "$1" '[.files[].mutations[] | select(.status == $s)] | length' "$2"; }

mkdir -p "$detail" "$(dirname "$out")"
rows=()
lived=()
failed=0
for pkg in "${pkgs[@]}"; do
	name=${pkg//\//_}
	json="$detail/$name.json"
	logf="$detail/$name.log"
	rm -f "$json"
	echo "mutation: $pkg (log in ${logf#"$root"/})"
	start=$SECONDS
	# --exclude-files '/' leaves out files in subdirectories (paths are relative to $pkg).
	if ! (cd "$snapshot" && "$gremlins" unleash --workers "$workers" \
		--timeout-coefficient "$coefficient" --exclude-files '/' \
		--output "$json" "./$pkg") >"$logf" 2>&1 || [[ ! -s "$json" ]]; then
		wall=$((SECONDS - start))
		echo "mutation: $pkg FAILED after ${wall}s; last lines of its log:"
		tail -n 20 "$logf" | sed 's/^/  | /'
		rows+=("$(printf '%-24s %s' "$pkg" "FAILED (see ${logf#"$root"/})")")
		failed=1
		continue
	fi
	wall=$((SECONDS - start))
	k=$(count KILLED "$json") l=$(count LIVED "$json") nc=$(count "NOT COVERED" "$json")
	to=$(count "TIMED OUT" "$json") nv=$(count "NOT VIABLE" "$json")
	eff=$(awk -v k="$k" -v l="$l" 'BEGIN { if (k + l == 0) print "-"; else printf "%.1f%%", 100 * k / (k + l) }')
	rows+=("$(printf '%-24s %6d %6d %11d %9d %10d %9s %6dm%02ds' \
		"$pkg" "$k" "$l" "$nc" "$to" "$nv" "$eff" $((wall / 60)) $((wall % 60)))")
	# Each lived mutant with its source line, which still reads right when
	# the file has moved on since the run.
	while IFS=$'\t' read -r file line col type; do
		src=$(sed -n "${line}p" "$snapshot/$pkg/$file" | sed 's/^[[:space:]]*//')
		lived+=("$(printf '%s/%s:%s:%s %s\n      %s' "$pkg" "$file" "$line" "$col" "$type" "$src")")
	done < <(jq -r '.files[] | .file_name as $f | .mutations[] | select(.status == "LIVED")
		| [$f, .line, .column, .type] | @tsv' "$json" | sort -t$'\t' -k1,1 -k2,2n -k3,3n)
	echo "mutation: ${rows[-1]}"
done

{
	printf '%-24s %6s %6s %11s %9s %10s %9s %9s\n' \
		package killed lived not-covered timed-out not-viable efficacy wall
	printf '%s\n' "${rows[@]}"
	echo
	echo "lived mutants (${#lived[@]}):"
	if [[ ${#lived[@]} -gt 0 ]]; then printf '  %s\n' "${lived[@]}"; fi
} >"$out"
cat "$out"
exit "$failed"
