package ws

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// MaxConnections connections are served; the one beyond is refused with 503,
// and a refusal does not hold a slot.
func TestTheConnectionLimitAdmitsExactlyMaxConnections(t *testing.T) {
	t.Run("the last free slot is granted", func(t *testing.T) {
		s := handshakeServer(&syncLog{})
		s.active.Store(int64(s.o.MaxConnections - 1))
		rec := httptest.NewRecorder() // cannot be hijacked: the upgrade fails after the check
		s.ServeHTTP(rec, upgradeRequest("good", ""))
		assert.NotEqual(t, http.StatusServiceUnavailable, rec.Code)
		assert.Equal(t, int64(s.o.MaxConnections-1), s.active.Load(), "the failed upgrade gave its slot back")
	})
	t.Run("one beyond the limit is refused and holds no slot", func(t *testing.T) {
		s := handshakeServer(&syncLog{})
		s.active.Store(int64(s.o.MaxConnections))
		for range 3 {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, upgradeRequest("good", ""))
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		}
		assert.Equal(t, int64(s.o.MaxConnections), s.active.Load())
	})
}
