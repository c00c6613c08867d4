package testutil

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ArqonInterruptBound is how soon arqon must exit after Ctrl-C in a test.
// arqon itself gives its command 300 ms after the signal; the rest is room
// for a loaded host (1.6 s was seen at load average 9 on 2 cores). The
// failures it guards against never exit at all.
const ArqonInterruptBound = 3 * time.Second

var arqonBuild struct {
	once sync.Once
	path string
	err  error
}

// ArqonBinary returns the path of the arqon client CLI, built once per test
// process from ./cmd/arqon into the module's build/e2e directory (without
// -race: the tests that run it watch its exit, not its memory).
func ArqonBinary(t testing.TB) string {
	t.Helper()
	arqonBuild.once.Do(func() { arqonBuild.path, arqonBuild.err = goBuild("arqon", "./cmd/arqon") })
	if arqonBuild.err != nil {
		t.Fatalf("build arqon: %v", arqonBuild.err)
	}
	return arqonBuild.path
}

// Arqon is a running arqon CLI.
type Arqon struct {
	cmd *exec.Cmd
	// Stderr is everything the process wrote to stderr so far.
	Stderr LogBuffer
	exited chan struct{}
	code   int // valid once exited is closed
}

// StartArqon starts `arqon args...` with only PATH and env as its
// environment; its stdout goes to stdout (nil: discarded). A process still
// running when the test ends is killed; its stderr is logged if the test
// failed.
func StartArqon(t testing.TB, stdout io.Writer, env []string, args ...string) *Arqon {
	t.Helper()
	p := &Arqon{cmd: exec.Command(ArqonBinary(t), args...), exited: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, &p.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start arqon: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("arqon stderr:\n%s", p.Stderr.String())
		}
	})
	return p
}

// RunArqon runs `arqon args...` to its end (within Timeout) and returns its
// exit status and output.
func RunArqon(t testing.TB, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out LogBuffer
	p := StartArqon(t, &out, env, args...)
	code = p.WaitExit(t, Timeout)
	return code, out.String(), p.Stderr.String()
}

// Process is the running process, for signals and its pid.
func (p *Arqon) Process() *os.Process { return p.cmd.Process }

// WaitExit waits up to bound for the process to exit and returns its
// status, failing the test if it is still running then.
func (p *Arqon) WaitExit(t testing.TB, bound time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(bound):
		t.Fatalf("arqon still running %s later\nstderr:\n%s", bound, p.Stderr.String())
		return 0
	}
}

// arqonJoined is the line `arqon tail` prints on stderr once it has joined.
var arqonJoined = regexp.MustCompile(`(?m)^arqon: joined (\S+) on (\S+); Ctrl-C to stop$`)

// WaitJoined waits for tail's join line and returns the pair and URL it
// names.
func (p *Arqon) WaitJoined(t testing.TB) (pair, url string) {
	t.Helper()
	Eventually(t, func() bool { return arqonJoined.MatchString(p.Stderr.String()) }, Timeout,
		"arqon tail's join line on stderr")
	m := arqonJoined.FindStringSubmatch(p.Stderr.String())
	return m[1], m[2]
}

// CountingListener listens on a loopback port, accepts and closes every
// connection, and counts them: its WebSocket URL lets a test prove that a
// command line connected to nothing (dials stays 0) or did connect.
func CountingListener(t testing.TB) (url string, dials *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	dials = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return "ws://" + ln.Addr().String() + "/ws", dials
}

// WaitBlockedWriting waits until a thread of the process sleeps in a pipe
// write, where the kernel tells (/proc/PID/task/*/wchan): proof that its
// stdout is stalled. Where the kernel does not tell, it logs so and returns,
// and the volume the test wrote is the only assurance.
func (p *Arqon) WaitBlockedWriting(t testing.TB) {
	t.Helper()
	told := true
	Eventually(t, func() bool {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", p.cmd.Process.Pid))
		told = false
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), "pipe_write") {
				return true
			}
			told = told || (len(b) > 0 && string(b) != "0")
		}
		return !told
	}, Timeout, "arqon blocked writing to its stalled stdout")
	if !told {
		t.Log("the kernel does not show where arqon sleeps: relying on the volume written")
	}
}
