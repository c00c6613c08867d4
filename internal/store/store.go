// Package store defines message history storage and the strict/degraded
// policy that wraps a backend. Backends live in store/memstore and
// store/redisstore; only this package acts on the storage modes, whose
// names (config.ModeStrict, config.ModeDegraded) config owns.
//
// Concurrency: every Store implementation is safe for concurrent use.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// ErrUnavailable marks a failure of the backend itself (connection refused,
// timeout, server error): the operation may succeed later. Backends wrap it:
// fmt.Errorf("append %s: %w", key, store.ErrUnavailable).
var ErrUnavailable = errors.New("storage backend unavailable")

// ErrClosed is returned by operations on a closed store.
var ErrClosed = errors.New("store closed")

// Key names one history stream: a tenant's (room, channel) pair. The parts are
// kept apart; a backend that needs a single string escapes each part so that
// no two keys collide.
type Key struct {
	Tenant  string
	Room    string
	Channel string
}

// MaxHistoryLimit bounds Query.Limit.
const MaxHistoryLimit = 500

// Query selects a slice of history. Bounds are exclusive. A bound given as a
// message id refers to that message; a bound given as a time compares with the
// message timestamps. Zero values mean "no bound".
type Query struct {
	Limit      int // 1..MaxHistoryLimit
	SinceID    string
	SinceTime  time.Time
	BeforeID   string
	BeforeTime time.Time
	// MaxBytes, when positive, bounds what one page materialises, counted
	// with Size: a backend collects newest first and stops before the
	// total would pass MaxBytes, though it always keeps the newest
	// matching message. Page.Truncated says it stopped early.
	MaxBytes int
}

// Page is a history answer: the newest Limit messages inside the bounds,
// oldest first. Complete is false when the store cannot prove the range is
// gap-free (a bound id that is no longer stored, writes that went to a
// fallback during a degraded period).
type Page struct {
	Messages []protocol.Envelope
	Complete bool
	// Truncated says older messages inside the bounds were left out to
	// keep the page within Query.MaxBytes; the client pages back with
	// `before` set to the oldest id it got. It says nothing about gaps.
	Truncated bool
}

// Store persists and reads message history.
type Store interface {
	// Append stores env under key. On success the message is durable as far
	// as the backend promises. Backend failures wrap ErrUnavailable.
	Append(ctx context.Context, key Key, env *protocol.Envelope) error
	// History returns the newest q.Limit messages inside q's bounds.
	History(ctx context.Context, key Key, q Query) (Page, error)
	// Count returns how many messages are stored under key.
	Count(ctx context.Context, key Key) (int64, error)
	// Ping checks the backend answers.
	Ping(ctx context.Context) error
	// Close releases resources; it is idempotent.
	Close() error
}

// Health states.
const (
	StateOK       = "ok"
	StateDegraded = "degraded"
	StateDown     = "down"
)

// Health is what /readyz, /status and the status command show of storage.
type Health struct {
	Backend   string `json:"backend"`
	Mode      string `json:"mode"`
	State     string `json:"state"`
	Degraded  bool   `json:"degraded"`
	LastError string `json:"last_error"`
}

// Usable reports whether storage can take writes (ok or degraded).
func (h Health) Usable() bool { return h.State != StateDown }
