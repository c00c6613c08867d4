//go:build !linux

package ws

import "syscall"

// waitReadable is a no-op where peeking is not wired up: the reader then
// parks inside the WebSocket read itself.
func waitReadable(syscall.RawConn) error { return nil }
