package ws

import (
	"bufio"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeHijacker is a ResponseWriter whose Hijack hands out one end of
// net.Pipe, the way an HTTP server hands out the client's socket.
type pipeHijacker struct {
	*httptest.ResponseRecorder
	nc net.Conn
}

func (h pipeHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.nc, bufio.NewReadWriter(bufio.NewReader(h.nc), bufio.NewWriter(h.nc)), nil
}

// ARQONBUS_HANDSHAKE_TIMEOUT bounds the whole handshake: the HTTP server's
// ReadHeaderTimeout bounds reading the request, and the upgrader, which had
// 10 s written into it, bounds writing the 101 response with the same
// setting. A peer that never reads its response is let go after it.
func TestTheUpgraderGivesUpAfterTheHandshakeTimeout(t *testing.T) {
	const handshake = 30 * time.Millisecond
	s := NewServer(testOptions(func(o *Options) { o.HandshakeTimeout = handshake }))
	assert.Equal(t, handshake, s.upgrader.HandshakeTimeout)

	server, peer := net.Pipe() // the peer never reads: the 101 response cannot be written
	t.Cleanup(func() { _ = peer.Close() })
	served := make(chan time.Duration, 1)
	go func() {
		began := time.Now()
		s.ServeHTTP(pipeHijacker{httptest.NewRecorder(), server}, upgradeRequest("", ""))
		served <- time.Since(began)
	}()
	select {
	case took := <-served:
		assert.GreaterOrEqual(t, took, handshake)
	case <-time.After(5 * time.Second):
		t.Fatal("the upgrade still waits for a peer that does not read")
	}
	assert.Zero(t, s.Connections(), "the failed upgrade holds no connection slot")
}

// ws.Options has no defaults of its own (internal/config owns them): a
// caller that leaves a limit at zero learns it at once instead of getting a
// server that refuses everyone or times out every write.
func TestNewServerRefusesALimitThatIsNotPositive(t *testing.T) {
	cases := map[string]func(*Options){
		"MaxConnections":   func(o *Options) { o.MaxConnections = 0 },
		"MaxMessageSize":   func(o *Options) { o.MaxMessageSize = 0 },
		"MaxJSONDepth":     func(o *Options) { o.MaxJSONDepth = 0 },
		"SendQueueBytes":   func(o *Options) { o.SendQueueBytes = 0 },
		"MaxViolations":    func(o *Options) { o.MaxViolations = 0 },
		"RateLimitGrace":   func(o *Options) { o.RateLimitGrace = 0 },
		"PingInterval":     func(o *Options) { o.PingInterval = 0 },
		"PongTimeout":      func(o *Options) { o.PongTimeout = -time.Second },
		"HandshakeTimeout": func(o *Options) { o.HandshakeTimeout = 0 },
		"WriteTimeout":     func(o *Options) { o.WriteTimeout = 0 },
		"RateBurst":        func(o *Options) { o.RateLimit, o.RateBurst = 10, 0 },
	}
	for field, edit := range cases {
		t.Run(field, func(t *testing.T) {
			var msg any
			func() {
				defer func() { msg = recover() }()
				NewServer(testOptions(edit))
			}()
			assert.Contains(t, fmt.Sprint(msg), "ws.Options."+field+" must be positive")
		})
	}
	t.Run("a zero burst is fine while rate limiting is off", func(t *testing.T) {
		require.NotPanics(t, func() {
			NewServer(testOptions(func(o *Options) { o.RateLimit, o.RateBurst = 0, 0 }))
		})
	})
}
