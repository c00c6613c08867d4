package testutil

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// listeningLine is the stdout line `arqonbus serve` prints once it serves.
var listeningLine = regexp.MustCompile(`^arqonbus listening on (\S+) \(ops on ([^,)]+)`)

// Proc is a running arqonbus binary.
type Proc struct {
	// Addr is the WebSocket address (host:port) from the "listening" line.
	Addr string
	// HTTPAddr is the ops endpoints' address (the same as Addr unless
	// ARQONBUS_HTTP_PORT is set).
	HTTPAddr string
	// URL is the WebSocket endpoint, ws://Addr/ws.
	URL string
	// HTTP is the ops base URL, http://HTTPAddr.
	HTTP string

	cmd    *exec.Cmd
	stdout *procOutput
	stderr *procOutput

	exited   chan struct{} // closed once the process has exited and its output is read
	exitCode int           // valid after exited; -1 when killed by a signal
	waited   bool          // the test observed the exit (Stop or Wait)
	waitedMu sync.Mutex
}

// RunBinary starts `arqonbus args...` with a clean environment plus env
// (see binaryEnviron), logs its output through t.Log and waits for the
// "arqonbus listening on" line. Pass ARQONBUS_SERVER_PORT=0 (or a port from
// FreePort) so parallel tests do not collide. When the test ends, a process
// still running is stopped with SIGTERM and must exit with status 0; one
// that hangs is killed.
func RunBinary(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	p := startBinary(t, env, args...)
	t.Cleanup(func() {
		if p.observed() {
			return
		}
		if !p.hasExited() {
			p.stop(t)
			return
		}
		if !t.Failed() {
			t.Errorf("arqonbus exited by itself with status %d during the test", p.exitCode)
		}
	})
	deadline := time.NewTimer(binaryStartTimeout)
	defer deadline.Stop()
	for {
		if m := p.stdout.match(listeningLine); m != nil {
			p.Addr, p.HTTPAddr = m[1], m[2]
			p.URL = "ws://" + p.Addr + "/ws"
			p.HTTP = "http://" + p.HTTPAddr
			return p
		}
		select {
		case <-p.stdout.changed():
		case <-p.exited:
			p.markObserved()
			t.Fatalf("arqonbus exited with status %d before listening\nstderr:\n%s", p.exitCode, p.stderr.String())
		case <-deadline.C:
			p.kill()
			t.Fatalf("arqonbus did not print its listening line within %s\nstdout:\n%s\nstderr:\n%s",
				binaryStartTimeout, p.stdout.String(), p.stderr.String())
		}
	}
}

func startBinary(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	bin := Binary(t)
	p := &Proc{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = binaryEnviron(env)
	p.cmd.SysProcAttr = binaryProcAttr()
	p.stdout = newProcOutput(t, "arqonbus stdout")
	p.stderr = newProcOutput(t, "arqonbus stderr")
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait() // waits for the output copies too
		p.exitCode = p.cmd.ProcessState.ExitCode()
		p.stdout.flush()
		p.stderr.flush()
		close(p.exited)
	}()
	return p
}

// Signal sends sig to the process. Follow it with Wait: a process the test
// never waited for is stopped with SIGTERM when the test ends.
func (p *Proc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to arqonbus: %v", sig, err)
	}
}

// Stop sends SIGTERM and asserts that the process exits with status 0
// within the stop deadline (killing it otherwise).
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	p.stop(t)
}

func (p *Proc) stop(t testing.TB) {
	t.Helper()
	p.markObserved()
	if !p.hasExited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if code := p.wait(t, binaryStopTimeout); code != 0 {
		t.Errorf("arqonbus exited with status %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr.String())
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// status (-1 when a signal killed it). A process still running at the
// deadline is killed and the test fails.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	p.markObserved()
	return p.wait(t, timeout)
}

func (p *Proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.kill()
		t.Fatalf("arqonbus still running %s after it was asked to stop; killed\nstderr:\n%s", timeout, p.stderr.String())
	}
	if p.stderr.contains("WARNING: DATA RACE") {
		t.Errorf("the race detector reported a data race in arqonbus (see its stderr above)")
	}
	return p.exitCode
}

// kill ends the process with SIGKILL and waits for it.
func (p *Proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *Proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *Proc) markObserved() {
	p.waitedMu.Lock()
	p.waited = true
	p.waitedMu.Unlock()
}

func (p *Proc) observed() bool {
	p.waitedMu.Lock()
	defer p.waitedMu.Unlock()
	return p.waited
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stdout returns everything the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns everything the process wrote to stderr so far (its log).
func (p *Proc) Stderr() string { return p.stderr.String() }

// WaitStderr waits until the process's stderr holds s and fails the test
// after timeout or when the process exits first.
func (p *Proc) WaitStderr(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if p.stderr.contains(s) {
			return
		}
		select {
		case <-p.stderr.changed():
		case <-p.exited:
			if p.stderr.contains(s) {
				return
			}
			t.Fatalf("arqonbus exited (status %d) before logging %q", p.exitCode, s)
		case <-deadline.C:
			t.Fatalf("arqonbus did not log %q within %s", s, timeout)
		}
	}
}

// Get fetches path from the ops endpoints and returns the status, headers
// and body. It uses no keep-alive, so no idle connection outlives the call.
func (p *Proc) Get(t testing.TB, path string) (int, http.Header, string) {
	t.Helper()
	return HTTPGet(t, p.HTTP+path)
}

// HTTPGet fetches url without keep-alive and returns the status, headers
// and body.
func HTTPGet(t testing.TB, url string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// RunBinaryExit runs `arqonbus args...` (clean environment plus env, as
// RunBinary) for a run that ends by itself, such as a preflight failure or a
// subcommand, and returns its exit status and output. A run that does not
// end within the deadline is killed and fails the test.
func RunBinaryExit(t testing.TB, env []string, args ...string) (exitCode int, stdout, stderr string) {
	t.Helper()
	p := startBinary(t, env, args...)
	code := p.Wait(t, binaryExitTimeout)
	return code, p.stdout.String(), p.stderr.String()
}
