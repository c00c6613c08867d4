package regression

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// TestRegression_TimestampsOutsideTheStorableRangeAreRefused: an offset could
// push an accepted timestamp past year 9999 or before year 0000, and peers
// then received a timestamp that is not RFC 3339; Go's zero time
// (0001-01-01T00:00:00Z) was silently replaced with server time. Timestamps
// must now lie in 1970..9999 UTC, and anything else is a VALIDATION_ERROR.
func TestRegression_TimestampsOutsideTheStorableRangeAreRefused(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	for _, ts := range []string{"9999-12-31T23:59:59-00:01", "0000-01-01T00:00:00+00:01", "0001-01-01T00:00:00Z"} {
		r := testutil.Request(t, c, &protocol.Envelope{Type: "message", Room: "r", Channel: "c", Payload: json.RawMessage(`{}`)})
		require.Equal(t, protocol.TypeMessageResponse, r.Type, "control: a message without timestamp is fine")
		raw := `{"type":"message","room":"r","channel":"c","payload":{},"timestamp":"` + ts + `"}`
		require.NoError(t, c.SendRaw(websocket.TextMessage, []byte(raw)))
		got := testutil.Expect(t, c)
		assert.Equal(t, string(protocol.CodeValidation), got.ErrorCode, ts)
		assert.Contains(t, got.Error, "outside 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z", ts)
	}
}

// TestRegression_AnOverflowingContinuationLengthClosesWith1009: a continuation
// frame announcing 2^63-1 bytes overflowed gorilla's running length, which
// it reports as ErrReadLimit; the server did not treat that as "too big"
// and dropped the socket without a close frame. It now closes with 1009.
func TestRegression_AnOverflowingContinuationLengthClosesWith1009(t *testing.T) {
	s := testutil.StartServer(t)
	nc := rawUpgrade(t, s)
	frame := maskedFrame(0x1, false, []byte(`{"type":`)) // text, not final
	hdr := []byte{0x80, 0x80 | 127}                      // FIN continuation, masked, 64-bit length
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<63-1)
	hdr = append(hdr, 0, 0, 0, 0) // mask key
	_, err := nc.Write(append(frame, hdr...))
	require.NoError(t, err)
	assert.Equal(t, protocol.CloseTooBig, readCloseCode(t, nc))
}

// TestRegression_AMessageAtTheFrameLimitReachesIdleSubscribers: the frame
// limit and the send queue both default to 1 MiB. A message at the limit
// grows when the server stamps id, timestamp and sender, so it no longer fit
// an empty queue: every member was closed with 4008 and the ack said
// delivered:0. An empty queue now always takes one frame.
func TestRegression_AMessageAtTheFrameLimitReachesIdleSubscribers(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.MaxMessageSize, c.SendQueueBytes = 64<<10, 64<<10
	}))
	pub, sub := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, sub, "big", "c")
	prefix := `{"type":"message","room":"big","channel":"c","payload":{"x":"`
	body := prefix + strings.Repeat("a", 64<<10-len(prefix)-3) + `"}}`
	require.Len(t, body, 64<<10)
	require.NoError(t, pub.SendRaw(websocket.TextMessage, []byte(body)))
	ack := testutil.Expect(t, pub)
	require.Equal(t, protocol.TypeMessageResponse, ack.Type, protocol.Encode(ack))
	assert.JSONEq(t, `{"delivered":1,"persisted":true}`, string(ack.Payload))
	got := testutil.Expect(t, sub)
	assert.Equal(t, "big", got.Room)
}

// TestRegression_AHistoryAnswerLargerThanTheSendQueueIsStillAnswered: a
// history page larger than the client's send queue closed the client that
// asked for it with 4008, although it was reading. The answer to one's own
// request is now accepted, cut to the queue size (truncated:true) with the
// newest messages kept.
func TestRegression_AHistoryAnswerLargerThanTheSendQueueIsStillAnswered(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.MaxMessageSize, c.SendQueueBytes = 32<<10, 64<<10
	}))
	c := testutil.Dial(t, s)
	for i := 0; i < 8; i++ {
		testutil.Publish(t, c, "h", "c", map[string]any{"n": i, "pad": strings.Repeat("p", 20<<10)})
	}
	data := testutil.Command(t, c, "history", map[string]any{"room": "h", "channel": "c", "limit": 8})
	msgs := data["messages"].([]any)
	assert.Equal(t, true, data["truncated"])
	require.NotEmpty(t, msgs)
	assert.Less(t, len(msgs), 8)
	last := msgs[len(msgs)-1].(map[string]any)["payload"].(map[string]any)["n"]
	assert.EqualValues(t, 7, last, "the newest message is kept")
	testutil.Command(t, c, "ping", nil)
}

// TestRegression_APingFloodCannotGrowServerMemory: every client ping queued
// its own pong, and a client that pinged without reading grew the server's
// heap by ~127 bytes per ping without bound. Only the latest unanswered ping
// is answered now (RFC 6455 §5.5.3).
func TestRegression_APingFloodCannotGrowServerMemory(t *testing.T) {
	s := testutil.StartServer(t)
	nc := rawUpgrade(t, s)
	ping := maskedFrame(0x9, true, []byte("0123456789abcdef0123456789abcdef"))
	batch := make([]byte, 0, len(ping)*1000)
	for i := 0; i < 1000; i++ {
		batch = append(batch, ping...)
	}
	before := heapInUse()
	for i := 0; i < 200; i++ { // 200,000 pings, never reading a pong
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(batch); err != nil {
			break
		}
	}
	grown := int64(heapInUse()) - int64(before)
	assert.Less(t, grown, int64(16<<20), "heap grew by %d bytes", grown)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rawUpgrade opens a WebSocket by hand and returns the socket after the
// welcome frame, for frames no library would send.
func rawUpgrade(t *testing.T, s *testutil.Server) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: " + s.Addr() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_, err = nc.Write([]byte(req))
	require.NoError(t, err)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := nc.Read(buf)
	require.NoError(t, err)
	require.Contains(t, string(buf[:n]), "101 Switching Protocols")
	return nc
}

// maskedFrame builds one client frame (clients must mask; a zero key keeps
// the payload readable).
func maskedFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	}
	f = append(f, 0, 0, 0, 0)
	return append(f, payload...)
}

// readCloseCode reads server frames until a close frame and returns its code
// (0 when the socket ends without one).
func readCloseCode(t *testing.T, nc net.Conn) int {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf []byte
	tmp := make([]byte, 64<<10)
	for {
		n, err := nc.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for len(buf) >= 2 {
			op, ln, hl := buf[0]&0x0f, int(buf[1]&0x7f), 2
			switch ln {
			case 126:
				if len(buf) < 4 {
					goto more
				}
				ln, hl = int(binary.BigEndian.Uint16(buf[2:])), 4
			case 127:
				if len(buf) < 10 {
					goto more
				}
				ln, hl = int(binary.BigEndian.Uint64(buf[2:])), 10
			}
			if len(buf) < hl+ln {
				goto more
			}
			if op == 0x8 {
				if ln < 2 {
					return 0
				}
				return int(binary.BigEndian.Uint16(buf[hl:]))
			}
			buf = buf[hl+ln:]
		}
	more:
		if err != nil {
			return 0
		}
	}
}
