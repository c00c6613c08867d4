package regression

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// noExec386 returns a directory holding a go_linux_386_exec that fails the
// way a kernel without 32-bit x86 emulation does. go test runs linux/386
// test binaries through such a program when it is on PATH, so prepending the
// directory to PATH makes this host behave like one that cannot run them.
func noExec386(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"fork/exec $1: exec format error\" >&2\nexit 126\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go_linux_386_exec"), []byte(script), 0o755))
	return dir
}

// On a host whose kernel cannot execute 32-bit x86 programs, the unit tier's
// linux/386 run failed every package with "exec format error", `make` stopped
// there, and the README's `make test-all` was red on a fresh machine before
// any later tier ran. The 386 run now asks scripts/host-can-exec.sh first:
// where the host cannot execute the binaries, the tests are compiled for 386
// (the build still proves they type-check and link) and the run is skipped
// with one line saying why. The stand-in host is proved real first: plain
// `go test` for 386 fails on it.
func TestRegression_TheUnitTierSkipsItsThirtyTwoBitRunWhereTheHostCannotExecuteIt(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	env := append(os.Environ(), "PATH="+noExec386(t)+string(os.PathListSeparator)+os.Getenv("PATH"))

	plain := exec.Command("go", "test", "-count=1", "-run", "^$", "./internal/protocol")
	plain.Dir, plain.Env = root, append(env, "GOARCH=386", "CGO_ENABLED=0")
	out, err := plain.CombinedOutput()
	require.Error(t, err, "go test for 386 must fail on the stand-in host:\n%s", out)
	require.Contains(t, string(out), "exec format error")

	tiers := t.TempDir()
	gate := exec.Command("make", "-s", "--no-print-directory", "test-unit-386",
		"UNIT_PKGS=./internal/protocol", "TIERS="+tiers)
	gate.Dir, gate.Env = root, env
	out, err = gate.CombinedOutput()
	require.NoError(t, err, "the 386 run on a host that cannot execute it:\n%s", out)
	require.Contains(t, string(out), "test-unit: SKIP the linux/386 run: this host cannot execute linux/386 programs")
	note, err := os.ReadFile(filepath.Join(tiers, "unit-386.skipped"))
	require.NoError(t, err, "the skip is recorded for the test-all summary")
	require.Contains(t, string(note), "exec format error")
	require.FileExists(t, filepath.Join(tiers, "386", "protocol.test"), "the tests were still compiled for 386")
}
