package testutil

import (
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/arqonbus/arqonbus/internal/config"
)

// MiniRedis starts an in-process Redis (miniredis) for the test; use its
// SetError to inject failures.
func MiniRedis(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	return miniredis.RunT(t)
}

// WithRedis points the server at a Redis URL with the given storage mode.
func WithRedis(url, mode string) Option {
	return func(c *config.Config) {
		c.StorageBackend = config.BackendRedis
		c.StorageMode = mode
		c.RedisURL = url
	}
}
