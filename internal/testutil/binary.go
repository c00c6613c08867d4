package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build information stamped into the e2e binary with -ldflags -X, so tests
// can check what `arqonbus version` and GET /version report.
const (
	BinaryVersion = "v0.0.0-e2e"
	BinaryCommit  = "e2e0000"
)

// EnvE2ECoverDir names the variable that turns on coverage for the e2e
// binary: it is built with -cover and every run writes its counters into
// that directory (GOCOVERDIR), for `make cover` to merge.
const EnvE2ECoverDir = "ARQONBUS_E2E_GOCOVERDIR"

// Deadlines of the binary helpers. A race-enabled binary starts and stops
// several times slower than a plain one, hence the generous margins.
const (
	binaryBuildTimeout = 5 * time.Minute  // first build of a race binary compiles the race runtime
	binaryStartTimeout = 30 * time.Second // until the "listening" line
	binaryStopTimeout  = 30 * time.Second // from SIGTERM to exit (the default drain bound is 10 s)
	binaryExitTimeout  = 30 * time.Second // for runs that end by themselves
)

// binaryModule is the import path the version variables live under.
const binaryModule = "github.com/arqonbus/arqonbus"

var binaryBuild struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of the arqonbus server binary, built once per test
// process from ./cmd/arqonbus into the module's build/e2e directory (removed
// by `make clean`). It is built with -race when this test binary was, and
// with -cover when ARQONBUS_E2E_GOCOVERDIR is set. Concurrent test processes
// may build at the same time: each writes a temporary file and renames it
// into place, so a reader never sees a half-written binary.
func Binary(t testing.TB) string {
	t.Helper()
	binaryBuild.once.Do(func() { binaryBuild.path, binaryBuild.err = buildBinary() })
	if binaryBuild.err != nil {
		t.Fatalf("build arqonbus: %v", binaryBuild.err)
	}
	return binaryBuild.path
}

func buildBinary() (string, error) {
	name := "arqonbus"
	var flags []string
	if raceEnabled {
		name += "-race"
		flags = append(flags, "-race")
	}
	if os.Getenv(EnvE2ECoverDir) != "" {
		name += "-cover"
		flags = append(flags, "-cover")
	}
	flags = append(flags, "-ldflags", fmt.Sprintf("-X %[1]s/internal/app.version=%[2]s -X %[1]s/internal/app.commit=%[3]s",
		binaryModule, BinaryVersion, BinaryCommit))
	return goBuild(name, "./cmd/arqonbus", flags...)
}

// goBuild builds pkg (relative to the module root) with flags into the
// module's build/e2e directory as name and returns its path. It writes a
// temporary file and renames it into place, so concurrent test processes
// never run a half-written binary.
func goBuild(name, pkg string, flags ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "build", "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", err
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name()) // no-op once renamed

	args := append([]string{"build", "-o", tmp.Name()}, flags...)
	args = append(args, pkg)
	ctx, cancel := context.WithTimeout(context.Background(), binaryBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	return final, nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// binaryEnviron is the environment of a binary run: PATH, HOME and TMPDIR
// from this process, GOCOVERDIR when coverage is on, GORACE for a race
// binary, then env. Nothing else is inherited, so a developer's ARQONBUS_*
// variables never leak into a test.
func binaryEnviron(env []string) []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	if dir := os.Getenv(EnvE2ECoverDir); dir != "" {
		out = append(out, "GOCOVERDIR="+dir)
	}
	if raceEnabled {
		// The race runtime sleeps a second before a successful exit by
		// default; every run would pay it.
		gorace := os.Getenv("GORACE")
		if !strings.Contains(gorace, "atexit_sleep_ms") {
			gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
		}
		out = append(out, "GORACE="+gorace)
	}
	return append(out, env...)
}
