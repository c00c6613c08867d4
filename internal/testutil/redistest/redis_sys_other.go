//go:build !unix

package redistest

import (
	"context"
	"errors"
	"os"
	"syscall"
)

var errRedisNoSignals = errors.New("pausing a redis-server process needs SIGSTOP, which this OS lacks")

func procChildAttr() *syscall.SysProcAttr { return nil }

func procTerminate(p *os.Process) error { return p.Kill() }
func procSuspend(*os.Process) error     { return errRedisNoSignals }
func procResume(*os.Process) error      { return errRedisNoSignals }

// procAlive cannot tell here: every process counts as alive, so no container is
// swept as stale.
func procAlive(int) bool { return true }

func procWaitSuspended(context.Context, int) error { return nil }
