package ws

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// verifierFunc is a Verifier from a function.
type verifierFunc func(string) (auth.Identity, error)

func (f verifierFunc) Verify(token string) (auth.Identity, error) { return f(token) }

// acceptOnly accepts the token "good" and refuses every other.
var acceptOnly = verifierFunc(func(token string) (auth.Identity, error) {
	if token == "good" {
		return auth.Identity{Subject: "alice", Role: auth.RoleUser}, nil
	}
	return auth.Identity{}, errors.New("refused")
})

// syncLog is a log sink safe for the handler and the test.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// handshakeServer is a transport with authentication on and no hub: every
// request it is given here is refused before a connection exists.
func handshakeServer(log *syncLog) *Server {
	return NewServer(testOptions(func(o *Options) {
		o.Hub = nil
		o.Verifier = acceptOnly
		o.Logger = slog.New(slog.NewTextHandler(log, nil))
	}))
}

// upgradeRequest is a WebSocket upgrade request to bus.example with token
// (none when empty) and origin (none when empty).
func upgradeRequest(token, origin string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://bus.example/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	return r
}

// No cache between a client and the bus may keep a refused handshake
// (docs/security.md): every refusal, whatever check made it, says
// Cache-Control: no-store.
func TestEveryHandshakeRefusalSaysNoStore(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, s *Server) *http.Request
		status  int
	}{
		{"a request without a token", func(*testing.T, *Server) *http.Request { return upgradeRequest("", "") }, http.StatusUnauthorized},
		{"a refused token", func(*testing.T, *Server) *http.Request { return upgradeRequest("bad", "") }, http.StatusUnauthorized},
		{"a token over the size limit", func(*testing.T, *Server) *http.Request {
			return upgradeRequest(strings.Repeat("a", auth.MaxTokenSize+1), "")
		}, http.StatusRequestHeaderFieldsTooLarge},
		{"a foreign origin", func(*testing.T, *Server) *http.Request { return upgradeRequest("good", "https://evil.example") }, http.StatusForbidden},
		{"a full server", func(_ *testing.T, s *Server) *http.Request {
			s.active.Store(int64(s.o.MaxConnections))
			return upgradeRequest("good", "")
		}, http.StatusServiceUnavailable},
		{"a draining server", func(t *testing.T, s *Server) *http.Request {
			require.NoError(t, s.Shutdown(context.Background()))
			return upgradeRequest("good", "")
		}, http.StatusServiceUnavailable},
		{"a plain HTTP request", func(*testing.T, *Server) *http.Request {
			return httptest.NewRequest(http.MethodGet, "http://bus.example/ws", nil)
		}, http.StatusUpgradeRequired},
		{"a broken upgrade", func(*testing.T, *Server) *http.Request {
			r := upgradeRequest("good", "")
			r.Header.Del("Sec-WebSocket-Key")
			return r
		}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := handshakeServer(&syncLog{})
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, tc.prepare(t, s))
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		})
	}
}

// A refused origin used to move only a counter, so an operator whose
// browser clients got 403 found nothing in the log. The refusal is a WARN
// line naming the origin, to copy into ARQONBUS_ALLOWED_ORIGINS.
func TestAnOriginRefusalIsLoggedWithTheOrigin(t *testing.T) {
	log := &syncLog{}
	s := handshakeServer(log)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, upgradeRequest("good", "https://app.example:8443"))
	require.Equal(t, http.StatusForbidden, rec.Code)
	line := log.String()
	assert.Contains(t, line, "level=WARN")
	assert.Contains(t, line, `msg="handshake refused"`)
	assert.Contains(t, line, "op=origin")
	assert.Contains(t, line, "origin=https://app.example:8443")
}

// The origin is the caller's to fill; the log line keeps a bounded prefix.
func TestAHugeRefusedOriginIsLoggedTruncated(t *testing.T) {
	log := &syncLog{}
	s := handshakeServer(log)
	huge := "https://" + strings.Repeat("x", 10000) + ".example"
	s.ServeHTTP(httptest.NewRecorder(), upgradeRequest("good", huge))
	assert.Contains(t, log.String(), "origin=https://xxx")
	assert.Less(t, len(log.String()), maxLoggedOrigin+300, "the line is bounded")
}
