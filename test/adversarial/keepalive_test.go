package adversarial

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// endWatch notices when the server closes a socket: it reads and discards
// until then. after is valid once done is closed.
type endWatch struct {
	done  chan struct{}
	after time.Duration
}

func watchEnd(nc net.Conn, start time.Time) *endWatch {
	w := &endWatch{done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(io.Discard, nc)
		w.after = time.Since(start)
		close(w.done)
	}()
	return w
}

func (w *endWatch) ended() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// ARQONBUS_HANDSHAKE_TIMEOUT bounds reading the upgrade request: a
// slowloris client sending its upgrade one byte every 100 ms, or nothing at
// all, is cut off after the handshake timeout, long before its request would
// be complete. Such sockets never count against the connection cap.
func TestSlowlorisHandshakesAreCutOffAfterTheHandshakeTimeout(t *testing.T) {
	const (
		handshake = 500 * time.Millisecond
		slowloris = 20
		maxConns  = 4
	)
	s := start(t, func(c *config.Config) {
		c.HandshakeTimeout = handshake
		c.MaxConnections = maxConns
	})
	by := newBystander(t, s)
	base := runtime.NumGoroutine()

	began := time.Now()
	req := []byte(testutil.UpgradeRequest(s))
	conns := make([]net.Conn, slowloris)
	watches := make([]*endWatch, slowloris)
	for i := range conns {
		conns[i] = testutil.DialTCP(t, s)
		watches[i] = watchEnd(conns[i], began)
	}
	silent := watchEnd(testutil.DialTCP(t, s), began)

	// One byte per 100 ms to every slowloris socket; the whole request would
	// take len(req) × 100 ms, about 15 s.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < len(req); sent++ {
		<-tick.C
		open := 0
		for i, nc := range conns {
			if watches[i].ended() {
				continue
			}
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := nc.Write(req[sent : sent+1]); err == nil {
				open++
			}
		}
		if sent == 3 {
			// Mid-attack, a real client still gets in: half-read requests
			// hold no connection slot.
			c := testutil.Dial(t, s)
			assertStillOpen(t, c)
			require.NoError(t, c.Close())
		}
		if open == 0 {
			break
		}
	}
	for i, w := range append(watches, silent) {
		select {
		case <-w.done:
			assert.GreaterOrEqual(t, w.after, handshake, "socket %d: not before the timeout", i)
			assert.Less(t, w.after, handshake+3*time.Second, "socket %d: cut off soon after the timeout", i)
		case <-time.After(closeWait):
			t.Fatalf("socket %d is still connected", i)
		}
	}
	goroutinesBack(t, base)
	by.stillServed(t)
}

// SPEC §2 keepalive: a WebSocket client that never answers the server's
// pings is closed after the ping interval plus the pong timeout, while an
// equally idle client that answers them stays connected.
func TestIdleConnectionsThatNeverAnswerPingsAreClosedAndPoliteOnesStay(t *testing.T) {
	const ping, pong = 200 * time.Millisecond, 200 * time.Millisecond
	s := start(t, func(c *config.Config) { c.PingInterval, c.PongTimeout = ping, pong })
	by := newBystander(t, s)
	base := runtime.NumGoroutine()

	dial := func(answer bool) (*websocket.Conn, *atomic.Int64, <-chan time.Duration) {
		began := time.Now() // before the server can start its read deadline
		ws, resp, err := websocket.DefaultDialer.DialContext(testutil.Ctx(t), s.URL, nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		t.Cleanup(func() { _ = ws.Close() })
		var pings atomic.Int64
		ws.SetPingHandler(func(data string) error {
			pings.Add(1)
			if !answer {
				return nil // the attack: never pong
			}
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		ended := make(chan time.Duration, 1)
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					ended <- time.Since(began)
					return
				}
			}
		}()
		return ws, &pings, ended
	}
	_, deafPings, deafEnded := dial(false)
	polite, politePings, politeEnded := dial(true)

	select {
	case d := <-deafEnded:
		assert.GreaterOrEqual(t, d, ping+pong, "not before ping interval plus pong timeout")
		assert.Less(t, d, ping+pong+3*time.Second, "closed soon after")
	case <-time.After(closeWait):
		t.Fatal("a client that never answers pings is still connected")
	}
	assert.Positive(t, deafPings.Load(), "the server pinged the deaf client")

	testutil.Eventually(t, func() bool { return politePings.Load() >= 5 }, closeWait,
		"the polite client to answer five pings (over twice the pong deadline)")
	select {
	case <-politeEnded:
		t.Fatal("the polite client was closed")
	default:
	}
	require.NoError(t, polite.Close())
	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	by.stillServed(t) // idle throughout, kept alive by the client's automatic pongs
}
