package redistest

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
)

// MiniRedis starts an in-process Redis (miniredis) for the test; use its
// SetError to inject failures. t.Cleanup stops it.
func MiniRedis(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	return miniredis.RunT(t)
}
