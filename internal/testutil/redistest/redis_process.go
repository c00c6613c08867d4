package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

const (
	// redisStopGrace is how long a stopping redis-server may take after SIGTERM before it
	// gets SIGKILL. Without persistence it exits in milliseconds.
	redisStopGrace = 5 * time.Second
	// redisPortAttempts bounds the retries when another process took the chosen port.
	redisPortAttempts = 3
)

// processRedis is a redis-server child process on a fixed loopback port, in its own
// temporary directory, with no persistence. Restarts keep the port.
type processRedis struct {
	bin  string
	dir  string
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited and been reaped
}

var _ redisBackend = (*processRedis)(nil)

// lookRedisServer finds redis-server on PATH.
func lookRedisServer() error {
	_, err := exec.LookPath("redis-server")
	return err
}

// startRedisProcess spawns redis-server and waits until it answers PING. The returned
// value is non-nil whenever something needs close, even with an error.
func startRedisProcess(ctx context.Context) (*processRedis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "arqonbus-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis-server dir: %w", err)
	}
	p := &processRedis{bin: bin, dir: dir}
	for attempt := 1; ; attempt++ {
		port, err := testutil.PickFreePort()
		if err != nil {
			return p, err
		}
		p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = p.start(ctx)
		if err == nil {
			return p, nil
		}
		if attempt >= redisPortAttempts || !strings.Contains(p.logTail(), "Address already in use") {
			return p, err
		}
	}
}

func (p *processRedis) describe() string { return "process " + p.bin }

// start spawns redis-server on p.addr unless it runs, and waits until it answers.
func (p *processRedis) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running() {
		return nil
	}
	_, port, _ := net.SplitHostPort(p.addr)
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("redis-server log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(p.bin,
		"--port", port,
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--save", "",
		"--appendonly", "no",
		"--dir", p.dir,
		"--daemonize", "no",
	)
	cmd.Dir = p.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = procChildAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited

	if err := waitReady(ctx, tcpOptions(p.addr), exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%w; redis-server log:\n%s", err, p.logTail())
	}
	return nil
}

// running reports whether the current child is alive. Callers hold p.mu.
func (p *processRedis) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the server: SIGTERM, then SIGKILL after redisStopGrace.
func (p *processRedis) stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopLocked(ctx, redisStopGrace)
}

func (p *processRedis) stopLocked(ctx context.Context, grace time.Duration) error {
	if !p.running() {
		return nil
	}
	proc := p.cmd.Process
	if grace > 0 {
		_ = procTerminate(proc)
		_ = procResume(proc) // a stopped process acts on SIGTERM only once continued
		select {
		case <-p.exited:
			return nil
		case <-time.After(grace):
		case <-ctx.Done():
		}
	}
	_ = proc.Kill()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redis-server pid %d did not exit: %w", proc.Pid, ctx.Err())
	}
}

func (p *processRedis) pause(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return errors.New("redis-server is not running")
	}
	if err := procSuspend(p.cmd.Process); err != nil {
		return err
	}
	return procWaitSuspended(ctx, p.cmd.Process.Pid)
}

func (p *processRedis) unpause(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return errors.New("redis-server is not running")
	}
	return procResume(p.cmd.Process)
}

// close kills the server at once and removes its directory. Idempotent.
func (p *processRedis) close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.stopLocked(ctx, 0)
	if rerr := os.RemoveAll(p.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

func (p *processRedis) logPath() string { return filepath.Join(p.dir, "redis.log") }

// logTail returns the last lines redis-server wrote, for error messages.
func (p *processRedis) logTail() string {
	b, err := os.ReadFile(p.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
