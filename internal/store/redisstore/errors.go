package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/store"
)

// opError is a backend failure of one operation. It wraps both
// store.ErrUnavailable (the condition callers test for) and the client's
// error (the detail logs need), and gives the policy a safe short reason.
type opError struct {
	op  string
	key string // "" for key-less operations (ping)
	err error
}

func (e *opError) Error() string {
	if e.key == "" {
		return fmt.Sprintf("%s: %v: %v", e.op, store.ErrUnavailable, e.err)
	}
	return fmt.Sprintf("%s %s: %v: %v", e.op, e.key, store.ErrUnavailable, e.err)
}

func (e *opError) Unwrap() []error { return []error{store.ErrUnavailable, e.err} }

// Reason names the failure without addresses or server text: a Redis error
// shows only its code word (LOADING, READONLY, NOAUTH, …).
func (e *opError) Reason() string {
	if rerr, ok := errors.AsType[redis.Error](e.err); ok {
		return "server error " + errorCode(rerr.Error())
	}
	return store.ErrorReason(e.err)
}

// errorCode returns the leading upper-case word of a Redis error message, or
// "ERR" when the message does not start with one.
func errorCode(msg string) string {
	n := 0
	for n < len(msg) && n < 32 && (msg[n] >= 'A' && msg[n] <= 'Z' || msg[n] == '_') {
		n++
	}
	if n == 0 || n < len(msg) && msg[n] != ' ' {
		return "ERR"
	}
	return msg[:n]
}

// wrap turns a client error into the store's terms. A caller that gave up
// (its own context ended) gets its context error, not ErrUnavailable: the
// backend did nothing wrong and must not be marked down for it.
func wrap(parent context.Context, op string, key string, err error) error {
	if perr := parent.Err(); perr != nil {
		if key == "" {
			return fmt.Errorf("%s: %w", op, perr)
		}
		return fmt.Errorf("%s %s: %w", op, key, perr)
	}
	return &opError{op: op, key: key, err: err}
}
