package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// Reasoner is implemented by backend errors that can describe themselves in
// a few safe words (no addresses, credentials or user data). ErrorReason
// prefers it over its own classification.
type Reasoner interface {
	error
	Reason() string
}

// ErrorReason returns a short description of a storage error that is safe to
// show in Health.LastError, /status and logs: it never contains a URL, a
// password or a key name. It returns "" for a nil error.
func ErrorReason(err error) string {
	if err == nil {
		return ""
	}
	if r, ok := errors.AsType[Reasoner](err); ok {
		return r.Reason()
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "timeout"
	}
	switch {
	case errors.Is(err, ErrClosed):
		return "store closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection closed"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	default:
		return "error"
	}
}
