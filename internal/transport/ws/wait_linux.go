package ws

import (
	"syscall"
	"unsafe"
)

// waitReadable parks until the socket has data (or EOF, an error, or the
// read deadline), peeking without consuming. The goroutine parks here with a
// shallow stack, so the runtime can shrink an idle connection's stack; the
// deep gorilla read path only runs when bytes are waiting.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		// EAGAIN: nothing yet, let the poller wait. Anything else (data,
		// EOF, an error) is for the real read to report.
		return errno != syscall.EAGAIN
	})
}
