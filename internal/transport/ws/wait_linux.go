package ws

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readiness parks a reader until its socket has data (or EOF, an error, or
// the read deadline), peeking without consuming. The goroutine parks here
// with a shallow stack, so the runtime can shrink an idle connection's
// stack; the deep gorilla read path only runs when bytes are waiting.
type readiness struct {
	raw   syscall.RawConn
	check func(fd uintptr) bool // r.peek, bound once: no allocation per wait
	calls int
}

func newReadiness(raw syscall.RawConn) *readiness {
	r := &readiness{raw: raw}
	r.check = r.peek
	return r
}

func (r *readiness) wait() error {
	r.calls = 0
	return r.raw.Read(r.check)
}

// peek asks the socket on the first call. A second call comes only after
// the poller reported the socket readable; the read that follows finds out
// what is there, so it is not asked again (one system call less per frame).
func (r *readiness) peek(fd uintptr) bool {
	r.calls++
	if r.calls > 1 {
		return true
	}
	var b [1]byte
	// x/sys/unix names recvfrom on every Linux architecture (syscall does
	// not on 386); unix.Recvfrom itself would allocate per call.
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	// EAGAIN: nothing yet, let the poller wait. Anything else (data, EOF,
	// an error) is for the real read to report.
	return errno != unix.EAGAIN
}
