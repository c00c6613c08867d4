package kv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Conditions a Store reports; wrapped with the operation.
var (
	// ErrKeyLimit: the tenant already holds MaxKeys keys and the write
	// would add one.
	ErrKeyLimit = errors.New("key limit reached")
	// ErrValueTooLarge: the value is over MaxValueBytes.
	ErrValueTooLarge = errors.New("value too large")
	// ErrUnavailable: the backend did not answer.
	ErrUnavailable = errors.New("key-value backend unavailable")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("key-value store closed")
)

// Space is one namespace inside one tenant. Every call is bound to a Space:
// the tenant comes from the caller's identity, the namespace from the
// client, and backends keep the two apart whatever bytes they hold.
type Space struct {
	Tenant    string
	Namespace string
}

// Limits bound what a Store keeps; a zero field is no bound. The node
// takes them from config (ARQONBUS_STORE_MAX_VALUE_BYTES,
// ARQONBUS_STORE_MAX_KEYS), which owns the defaults.
type Limits struct {
	MaxValueBytes int // bytes per value
	MaxKeys       int // live keys per tenant, all its namespaces together
}

// ValueTooLarge reports whether n bytes are over the value limit.
func (l Limits) ValueTooLarge(n int) bool { return l.MaxValueBytes > 0 && n > l.MaxValueBytes }

// CheckValue is the check every backend's Set makes first: ErrValueTooLarge
// for a value of n bytes under key over MaxValueBytes, else nil.
func (l Limits) CheckValue(key string, n int) error {
	if !l.ValueTooLarge(n) {
		return nil
	}
	return fmt.Errorf("set %q: %w (%d > %d bytes)", key, ErrValueTooLarge, n, l.MaxValueBytes)
}

// KeyLimitError is the error of a Set that would add key to a tenant
// already holding MaxKeys keys.
func (l Limits) KeyLimitError(key string) error {
	return fmt.Errorf("set %q: %w (%d keys)", key, ErrKeyLimit, l.MaxKeys)
}

// Page sorts keys bytewise in place and keeps the first limit of them
// (limit <= 0: all): what List returns once a backend has its keys.
func Page(keys []string, limit int) []string {
	slices.Sort(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	return keys
}

// Store holds values (opaque bytes, JSON for the commands) per key per
// Space. Expired keys are never returned and do not count.
type Store interface {
	// Set stores value under key; ttl > 0 expires it after ttl, 0 keeps
	// it (and clears an earlier expiry). created says the key was new.
	// ErrKeyLimit when a new key would exceed MaxKeys for the tenant,
	// ErrValueTooLarge over MaxValueBytes.
	Set(ctx context.Context, sp Space, key string, value []byte, ttl time.Duration) (created bool, err error)
	// Get returns the value of key; found is false when there is none.
	Get(ctx context.Context, sp Space, key string) (value []byte, found bool, err error)
	// Delete removes key; deleted is false when there was none.
	Delete(ctx context.Context, sp Space, key string) (deleted bool, err error)
	// List returns up to limit keys of sp starting with prefix, sorted
	// bytewise; limit <= 0 means no bound.
	List(ctx context.Context, sp Space, prefix string, limit int) ([]string, error)
	// Count returns the live keys of tenant across its namespaces.
	Count(ctx context.Context, tenant string) (int, error)
	// Close releases the store; later calls fail with ErrClosed. It is
	// idempotent.
	Close() error
}
