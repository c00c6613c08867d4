package ws

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// socketPair returns a connected pair of Unix stream sockets, the first
// non-blocking as the poller's is; both close at cleanup.
func socketPair(t testing.TB) [2]int {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fds[0]); _ = syscall.Close(fds[1]) })
	require.NoError(t, syscall.SetNonblock(fds[0], true))
	return fds
}

// The readiness peek runs before every frame: it must allocate nothing, and
// it must tell an empty socket (wait) from one with bytes (read).
func TestReadinessPeekAllocatesNothing(t *testing.T) {
	fds := socketPair(t)
	r := &readiness{}
	peek := func() bool { r.calls = 0; return r.peek(uintptr(fds[0])) }
	require.False(t, peek(), "nothing to read yet: the poller should wait")
	_, err := syscall.Write(fds[1], []byte("x"))
	require.NoError(t, err)
	require.True(t, peek(), "a byte waits")
	require.Zero(t, testing.AllocsPerRun(100, func() { peek() }))
}

// Within one wait the socket is asked once: the poller calls again only
// when the socket turned readable, and the read that follows finds out what
// is there, so the second call reports ready without asking.
func TestTheReadinessAsksTheSocketOncePerWait(t *testing.T) {
	fds := socketPair(t)
	r := &readiness{}
	require.False(t, r.peek(uintptr(fds[0])), "first call: nothing to read, the poller waits")
	require.True(t, r.peek(uintptr(fds[0])), "second call: ready, not asked again")
}
