package ws

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
)

// Every writer a test starts must have finished by the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOptions are the Options internal/app would pass with the dev
// defaults of internal/config, changed by edit.
func testOptions(edit func(*Options)) Options {
	cfg := config.Default(config.ProfileDev)
	o := Options{
		Hub:            bus.NewHub(cfg.MaxSubscriptions),
		MaxConnections: cfg.MaxConnections, MaxMessageSize: cfg.MaxMessageSize, MaxJSONDepth: cfg.MaxJSONDepth,
		SendQueueBytes: cfg.SendQueueBytes, MaxViolations: cfg.MaxViolations,
		RateLimit: cfg.RateLimitPerSecond, RateBurst: cfg.RateLimitBurst, RateLimitGrace: cfg.RateLimitGrace,
		PingInterval: cfg.PingInterval, PongTimeout: cfg.PongTimeout,
		HandshakeTimeout: cfg.HandshakeTimeout, WriteTimeout: cfg.WriteTimeout,
		Metrics: metrics.New(nil),
	}
	if edit != nil {
		edit(&o)
	}
	return o
}

// eventually fails t unless cond turns true within wait, polling it.
func eventually(t testing.TB, wait time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", wait, msg)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for an event
	}
}

// pipeConn is a connection of s over one end of net.Pipe, with its writer
// only (no reader runs); the test reads the other end. Both ends close at
// cleanup, and the cleanup waits for the writer to finish.
func pipeConn(t testing.TB, s *Server) (*conn, net.Conn) {
	t.Helper()
	server, peer := net.Pipe()
	c := s.newConn(server, nil, nil, auth.Identity{Role: auth.RoleUser})
	t.Cleanup(func() {
		_ = peer.Close()
		_ = server.Close()
		c.closeWith(0, "")
		<-c.writerDone()
	})
	return c, peer
}

// frame is one server frame as the peer reads it.
type frame struct {
	op      byte
	payload []byte
}

// closeCode is the code of a close frame.
func (f frame) closeCode() int {
	if f.op != opClose || len(f.payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// readFrameFrom reads one unmasked, final server frame from r within a
// bounded time.
func readFrameFrom(t testing.TB, r net.Conn) frame {
	t.Helper()
	require.NoError(t, r.SetReadDeadline(time.Now().Add(5*time.Second)))
	var h [2]byte
	_, err := io.ReadFull(r, h[:])
	require.NoError(t, err, "frame header")
	require.Equal(t, byte(finBit), h[0]&finBit, "a final frame")
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		_, err = io.ReadFull(r, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, err = io.ReadFull(r, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	require.NoError(t, err, "frame length")
	payload := make([]byte, n)
	_, err = io.ReadFull(r, payload)
	require.NoError(t, err, "frame payload")
	return frame{op: h[0] & 0x0F, payload: payload}
}
