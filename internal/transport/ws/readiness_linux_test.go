package ws

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Within one wait the socket is asked once: the poller calls again only
// when the socket turned readable, and the read that follows finds out what
// is there, so the second call reports ready without asking.
func TestTheReadinessAsksTheSocketOncePerWait(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	require.NoError(t, syscall.SetNonblock(fds[0], true))
	r := &readiness{}
	require.False(t, r.peek(uintptr(fds[0])), "first call: nothing to read, the poller waits")
	require.True(t, r.peek(uintptr(fds[0])), "second call: ready, not asked again")
}
