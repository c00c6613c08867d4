//go:build !linux

package ws

import "syscall"

// readiness is a no-op where peeking is not wired up: the reader then parks
// inside the WebSocket read itself.
type readiness struct{}

func newReadiness(syscall.RawConn) *readiness { return &readiness{} }

func (*readiness) wait() error { return nil }
