//go:build unix

package adversarial

import "syscall"

// smallReceiveBuffer sets SO_RCVBUF before the connection is made, so the
// window the peer sees is small from the first segment and the peer's send
// buffer has no reason to grow.
func smallReceiveBuffer(bytes int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, bytes)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
