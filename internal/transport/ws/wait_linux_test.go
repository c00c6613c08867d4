package ws

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The readiness peek runs before every frame: it must allocate nothing, and
// it must tell an empty socket (wait) from one with bytes (read).
func TestReadinessPeekAllocatesNothing(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	require.NoError(t, syscall.SetNonblock(fds[0], true))
	r := &readiness{}
	peek := func() bool { r.calls = 0; return r.peek(uintptr(fds[0])) }
	require.False(t, peek(), "nothing to read yet: the poller should wait")
	_, err = syscall.Write(fds[1], []byte("x"))
	require.NoError(t, err)
	require.True(t, peek(), "a byte waits")
	require.Zero(t, testing.AllocsPerRun(100, func() { peek() }))
}
