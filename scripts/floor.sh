#!/usr/bin/env bash
# Measures the floor that loopback TCP puts under fan-out on this machine,
# with no server at all: a writer pinned to CPU 0 writes one fanout-sized
# frame to each connection per burst, one write(2) each, and arqonbench
# reads them on CPU 1. Compare with `scripts/loadtest.sh fanout`.
#
#   scripts/floor.sh --connections 1000 --rate 100 --duration 10s
#   scripts/floor.sh --connections 1000 --rate 1000 --duration 10s
#
# Without flags it runs the defaults (1000 connections, 100 bursts/s, 10 s).
# The JSON line of the run is printed on stdout, the summary on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build
ulimit -n "$(ulimit -Hn)"
taskset -c 1 bin/arqonbench floor --writer-cpu 0 "$@" --json
