package testutil

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// hostExec caches, per GOARCH, why this host cannot execute linux programs
// built for it ("" when it can).
var hostExec sync.Map // GOARCH -> func() (string, error)

// CannotExec reports why this host cannot execute linux/goarch programs the
// way `go test` runs them, or "" when it can. It asks
// scripts/host-can-exec.sh (the probe the Makefile's unit tier uses, so the
// two never disagree) once per process and architecture. An error means the
// probe itself could not run.
func CannotExec(goarch string) (string, error) {
	probe, _ := hostExec.LoadOrStore(goarch, sync.OnceValues(func() (string, error) {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "host-can-exec.sh"), goarch)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return "", nil
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			return strings.TrimSpace(out.String()), nil
		default:
			return "", errors.Join(err, errors.New(strings.TrimSpace(out.String())))
		}
	}))
	return probe.(func() (string, error))()
}

// RequireExec skips t, with one line saying why, when this host cannot
// execute linux/goarch programs (a kernel without 32-bit x86 emulation
// cannot run linux/386 ones). A probe that cannot run fails t: that is a
// broken harness, not a host without the ability.
func RequireExec(t testing.TB, goarch string) {
	t.Helper()
	why, err := CannotExec(goarch)
	if err != nil {
		t.Fatalf("probing whether this host executes linux/%s programs: %v", goarch, err)
	}
	if why != "" {
		t.Skipf("skipped: %s", why)
	}
}
