//go:build unix && !linux

package redistest

import (
	"context"
	"errors"
	"os"
	"syscall"
)

func procChildAttr() *syscall.SysProcAttr { return nil }

func procTerminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
func procSuspend(p *os.Process) error   { return p.Signal(syscall.SIGSTOP) }
func procResume(p *os.Process) error    { return p.Signal(syscall.SIGCONT) }

// procAlive reports whether pid names a live process.
func procAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// procWaitSuspended has nothing to poll here; SIGSTOP lands within microseconds.
func procWaitSuspended(context.Context, int) error { return nil }
