//go:build linux

package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procChildAttr makes the kernel kill a spawned redis-server when the test process dies,
// even by SIGKILL or a test timeout, so no server outlives its tests.
func procChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func procTerminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
func procSuspend(p *os.Process) error   { return p.Signal(syscall.SIGSTOP) }
func procResume(p *os.Process) error    { return p.Signal(syscall.SIGCONT) }

// procAlive reports whether pid names a live process; a zombie, dead but not yet
// reaped, does not count.
func procAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	st, err := procState(pid)
	return err != nil || (st != 'Z' && st != 'X')
}

// procState is the one-letter state the kernel shows for pid.
func procState(pid int) (byte, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The state follows the command name, which is in parentheses and may hold any byte.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, fmt.Errorf("%s: unexpected %q", path, s)
	}
	return s[i+2], nil
}

// procWaitSuspended returns once the kernel shows pid as stopped: SIGSTOP is delivered
// asynchronously, and a request sent before it lands would still be answered.
func procWaitSuspended(ctx context.Context, pid int) error {
	for {
		st, err := procState(pid)
		if err != nil {
			return err
		}
		if st == 'T' || st == 't' {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process %d not stopped: %w", pid, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
