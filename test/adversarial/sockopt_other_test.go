//go:build !unix

package adversarial

import "syscall"

// smallReceiveBuffer is a no-op where SO_RCVBUF cannot be set before
// connecting; the slow consumer then needs more messages to fill up.
func smallReceiveBuffer(int) func(network, address string, c syscall.RawConn) error {
	return nil
}
