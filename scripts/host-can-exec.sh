#!/usr/bin/env bash
# host-can-exec.sh GOARCH succeeds when this host can execute linux/GOARCH
# programs the way `go test` runs them: directly, or through
# go_linux_GOARCH_exec when one is on PATH (go test's own convention, used for
# emulators such as qemu-user). Otherwise it prints one line saying why and
# exits 1.
#
# Kernels built without 32-bit emulation (CONFIG_IA32_EMULATION) cannot run
# linux/386 programs at all: `go test` then fails every package with
# "exec format error". The unit tier asks this script before its 386 run.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 GOARCH" >&2; exit 2; }
arch="$1"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/arqonbus-exec-probe.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
printf 'package main\n\nfunc main() { println("probe ok") }\n' >"$tmp/main.go"
if ! out="$(cd "$tmp" && GOOS=linux GOARCH="$arch" CGO_ENABLED=0 GOFLAGS='' go build -o probe main.go 2>&1)"; then
	echo "cannot build a linux/$arch program: $out"
	exit 1
fi
runner=()
if command -v "go_linux_${arch}_exec" >/dev/null 2>&1; then
	runner=("go_linux_${arch}_exec")
fi
if out="$("${runner[@]}" "$tmp/probe" 2>&1)" && [[ "$out" == "probe ok" ]]; then
	exit 0
fi
echo "this host cannot execute linux/$arch programs (${out:-no output}${runner:+, via ${runner[0]}})"
exit 1
