#!/usr/bin/env bash
# test-all.sh runs every step of `make test-all` in order, each as its own
# make target, then prints one summary: per step its result and wall time,
# and per test run its tests, passes, failures and skips (from the counts
# scripts/gotest.sh records).
#
# KEEP_GOING=1 (the default under CI=true) runs every step even after one
# failed, so one run shows every failure; the exit status is still 1 when
# any step failed. KEEP_GOING=0 (the default elsewhere) stops at the first.
#
# Arguments name the steps to run (default: all of them, in the order below).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly dir="${TIERS:-build/tiers}"
steps=("$@")
if [[ ${#steps[@]} -eq 0 ]]; then
	steps=(lint testenv test-unit test-integration test-e2e test-regression test-adversarial fuzz first-hour)
fi
default_keep=0
[[ "${CI:-}" == true ]] && default_keep=1
keep_going="${KEEP_GOING:-$default_keep}"

# runs_of STEP lists the test runs (count files) a step writes.
runs_of() {
	case "$1" in
	test-unit) echo "unit unit-386" ;;
	test-*) echo "${1#test-}" ;;
	esac
}

mkdir -p "$dir"
for step in "${steps[@]}"; do
	for run in $(runs_of "$step"); do rm -f "$dir/$run.counts" "$dir/$run.skipped"; done
done

declare -A result seconds
failed_steps=()
began=$SECONDS
for step in "${steps[@]}"; do
	if ((${#failed_steps[@]} > 0)) && [[ "$keep_going" != 1 ]]; then
		result[$step]="not run"
		seconds[$step]=0
		continue
	fi
	echo "==> make $step"
	t0=$SECONDS
	if make --no-print-directory "$step"; then
		result[$step]=pass
	else
		result[$step]=FAIL
		failed_steps+=("$step")
	fi
	seconds[$step]=$((SECONDS - t0))
done

# field KEY FILE prints KEY's value from a counts file (key=value words).
field() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p"; }

passed=0 failed=0 skipped=0
echo
echo "test-all summary (KEEP_GOING=$keep_going)"
printf '  %-18s %-8s %7s %7s %7s %7s %8s\n' step result tests passed failed skipped time
for step in "${steps[@]}"; do
	printf '  %-18s %-8s %7s %7s %7s %7s %7ss\n' "$step" "${result[$step]}" - - - - "${seconds[$step]}"
	for run in $(runs_of "$step"); do
		if [[ -f "$dir/$run.skipped" ]]; then
			printf '    %-16s skipped: %s\n' "$run" "$(cat "$dir/$run.skipped")"
		elif [[ -f "$dir/$run.counts" ]]; then
			total=$(field total "$dir/$run.counts")
			f=$(($(field failed "$dir/$run.counts") + $(field errors "$dir/$run.counts")))
			s=$(field skipped "$dir/$run.counts")
			p=$((total - f - s))
			((p < 0)) && p=0
			passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
			printf '    %-16s %-8s %7s %7s %7s %7s %8s\n' "$run" "" "$total" "$p" "$f" "$s" "$(field elapsed "$dir/$run.counts")"
		elif [[ "${result[$step]}" != "not run" ]]; then
			printf '    %-16s no test counts (the step failed before its tests ran)\n' "$run"
		fi
	done
done
echo "  wall time $((SECONDS - began))s"
# Steps that failed without a failing test (lint, a build, the fuzz targets)
# count as failures too, so the closing line never reads clean on a red run.
for step in "${failed_steps[@]}"; do
	counted=0
	for run in $(runs_of "$step"); do
		if [[ -f "$dir/$run.counts" ]] && (($(field failed "$dir/$run.counts") + $(field errors "$dir/$run.counts") > 0)); then
			counted=1
		fi
	done
	((counted)) || failed=$((failed + 1))
done
if ((${#failed_steps[@]} > 0)); then
	echo "test-all: FAILED steps: ${failed_steps[*]}"
	echo "test-all: $passed passed, $failed failed, $skipped skipped"
	exit 1
fi
echo "test-all: $passed passed, $failed failed, $skipped skipped"
