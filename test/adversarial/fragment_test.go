package adversarial

import (
	"errors"
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

// tinyFrames dials with gorilla's write buffer at its minimum, so every
// Write of a message written through NextWriter leaves as its own frame of
// at most a few bytes: a message becomes a flood of continuation frames.
func tinyFrames(t *testing.T, s *testutil.Server) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testutil.Timeout, WriteBufferSize: 1, ReadBufferSize: 4096}
	ws, resp, err := d.DialContext(testutil.Ctx(t), s.URL, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(testutil.Timeout)))
	_, welcome, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Contains(t, string(welcome), `"welcome"`)
	return ws
}

// A message split into thousands of tiny fragments is reassembled and served
// like any other (RFC 6455 §5.4): fragmentation is not an attack in itself.
func TestAMessageInThousandsOfFragmentsIsServed(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)

	ws := tinyFrames(t, s)
	msg := `{"id":"frag-1","type":"command","command":"ping","args":{}}`
	msg = msg[:len(msg)-1] + strings.Repeat(" ", 3000) + "}"
	w, err := ws.NextWriter(websocket.TextMessage)
	require.NoError(t, err)
	for i := range len(msg) {
		_, err := w.Write([]byte{msg[i]})
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	_, reply, err := ws.ReadMessage()
	require.NoError(t, err)
	env := mustDecodeReply(t, reply)
	assert.Equal(t, "frag-1", env.RequestID)
	assert.Equal(t, protocol.StatusSuccess, env.Status)

	// By hand, one byte per fragment with empty fragments between, so the
	// multi-byte characters are split across frames: UTF-8 is checked on
	// the whole message, not per fragment (RFC 6455 §8.1).
	raw := testutil.DialRawWS(t, s)
	frag := []byte(`{"id":"frag-2","type":"message","room":"frag","channel":"c","payload":{"s":"é🚀"}}`)
	require.NoError(t, raw.Write(false, testutil.OpText, frag[:1]))
	for i := 1; i < len(frag); i++ {
		require.NoError(t, raw.Write(false, testutil.OpContinuation, frag[i:i+1]))
		require.NoError(t, raw.Write(false, testutil.OpContinuation, nil), "empty fragments are legal too")
	}
	require.NoError(t, raw.Write(true, testutil.OpContinuation, nil))
	_, reply, err = raw.ReadMessage(testutil.Timeout)
	require.NoError(t, err)
	env = mustDecodeReply(t, reply)
	assert.Equal(t, "frag-2", env.RequestID)
	assert.Equal(t, protocol.TypeMessageResponse, env.Type, "%s", reply)
	by.stillServed(t)
}

func mustDecodeReply(t *testing.T, b []byte) *protocol.Envelope {
	t.Helper()
	env, err := protocol.Decode(b, protocol.Limits{MaxDepth: 64, ServerFrames: true})
	require.NoError(t, err, "reply %s", b)
	return env
}

// SPEC §1: the frame limit holds for a message however it is fragmented: an
// endless stream of small continuation frames is closed with 1009 once it
// passes the limit, and the connection's goroutines go away.
func TestAnEndlessStreamOfContinuationFramesClosesWith1009(t *testing.T) {
	const limit = 4096
	s := start(t, func(c *config.Config) { c.MaxMessageSize = limit })
	by := newBystander(t, s)
	base, heap := runtime.NumGoroutine(), liveHeap()

	t.Run("through gorilla's NextWriter", func(t *testing.T) {
		ws := tinyFrames(t, s)
		codes := make(chan int, 1)
		go func() {
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				codes <- ce.Code
				return
			}
			codes <- 0
		}()
		w, err := ws.NextWriter(websocket.TextMessage)
		require.NoError(t, err)
		chunk := []byte(`{"type":"message","payload":{"p":"` + pad(64))
		written := 0
		for written < 1000*limit {
			n, err := w.Write(chunk)
			written += n
			if err != nil {
				break
			}
			chunk = []byte(pad(8))
		}
		select {
		case code := <-codes:
			assert.Equal(t, protocol.CloseTooBig, code)
		case <-time.After(closeWait):
			t.Fatal("no close after the limit was passed")
		}
		assert.Less(t, written, 1000*limit, "the server stopped the stream")
	})

	t.Run("by hand on a raw socket", func(t *testing.T) {
		raw := testutil.DialRawWS(t, s)
		codes := make(chan int, 1)
		go func() {
			code, _ := raw.EndCode(closeWait)
			codes <- code
		}()
		require.NoError(t, raw.Write(false, testutil.OpText, []byte(`{"type":"message","payload":{"p":"`)))
		for range 100 * limit {
			if raw.Write(false, testutil.OpContinuation, []byte("x")) != nil {
				break
			}
			select {
			case code := <-codes:
				assert.Equal(t, protocol.CloseTooBig, code)
				return
			default:
			}
		}
		select {
		case code := <-codes:
			assert.Equal(t, protocol.CloseTooBig, code)
		case <-time.After(closeWait):
			t.Fatal("no close after the limit was passed")
		}
	})

	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	heapBack(t, heap, 4<<20)
	by.stillServed(t)
}

// SPEC §1: a frame header that announces more than the limit is a frame
// larger than the limit. A first fragment of a few bytes followed by a
// continuation announcing 2^63-1 bytes makes gorilla's running length
// overflow; the server must still answer 1009, not drop the socket silently.
func TestAContinuationFrameAnnouncingAnOverflowingLengthClosesWith1009(t *testing.T) {
	s := start(t, func(c *config.Config) { c.MaxMessageSize = 4096 })
	by := newBystander(t, s)
	raw := testutil.DialRawWS(t, s)
	require.NoError(t, raw.Write(false, testutil.OpText, []byte(`{"type":`)))
	require.NoError(t, raw.WriteHeader(false, testutil.OpContinuation, 1<<63-1))
	assert.Equal(t, protocol.CloseTooBig, raw.AwaitEnd(t, closeWait))
	by.stillServed(t)
}

// A single frame announcing a length above the limit is closed with 1009 as
// soon as more than the limit has arrived, whatever it claims.
func TestAFrameAnnouncingAnEnormousLengthClosesWith1009(t *testing.T) {
	const limit = 4096
	s := start(t, func(c *config.Config) { c.MaxMessageSize = limit })
	by := newBystander(t, s)
	raw := testutil.DialRawWS(t, s)
	require.NoError(t, raw.WriteHeader(true, testutil.OpText, 1<<62))
	require.NoError(t, raw.WriteBytes([]byte(pad(limit+1))))
	assert.Equal(t, protocol.CloseTooBig, raw.AwaitEnd(t, closeWait))
	by.stillServed(t)
}

// Framing that breaks RFC 6455 ends the connection, with gorilla's 1002 where
// it sends one; the server and its other clients carry on.
func TestFramingThatBreaksRFC6455EndsOnlyThatConnection(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)
	ping := []byte(`{"type":"command","command":"ping"}`)
	broken := []int{0, websocket.CloseProtocolError}
	cases := []struct {
		name  string
		bytes [][]byte
		codes []int // close codes the client may see; 0: none
	}{
		{"a continuation with no message to continue", [][]byte{testutil.ClientFrame(testutil.FinBit|testutil.OpContinuation, ping, false)}, broken},
		{"a new text frame inside a fragmented message", [][]byte{testutil.ClientFrame(testutil.OpText, ping[:5], false), testutil.ClientFrame(testutil.FinBit|testutil.OpText, ping, false)}, broken},
		{"RSV1 without an extension", [][]byte{testutil.ClientFrame(testutil.FinBit|0x40|testutil.OpText, ping, false)}, broken},
		{"RSV2 set", [][]byte{testutil.ClientFrame(testutil.FinBit|0x20|testutil.OpText, ping, false)}, broken},
		{"RSV3 set", [][]byte{testutil.ClientFrame(testutil.FinBit|0x10|testutil.OpText, ping, false)}, broken},
		{"reserved opcode 0x3", [][]byte{testutil.ClientFrame(testutil.FinBit|0x3, ping, false)}, broken},
		{"reserved control opcode 0xB", [][]byte{testutil.ClientFrame(testutil.FinBit|0xB, nil, false)}, broken},
		{"an unmasked client frame", [][]byte{testutil.ClientFrame(testutil.FinBit|testutil.OpText, ping, true)}, broken},
		{"a fragmented ping", [][]byte{testutil.ClientFrame(testutil.OpPing, []byte("a"), false)}, broken},
		{"a ping of 126 bytes", [][]byte{testutil.ClientFrame(testutil.FinBit|testutil.OpPing, []byte(pad(126)), false)}, broken},
		{"a 64-bit length with the top bit set", [][]byte{{testutil.FinBit | testutil.OpText, testutil.MaskBit | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}},
			[]int{0, websocket.CloseProtocolError, protocol.CloseTooBig}},
		// gorilla reads a one-byte close body as "no status" and the server
		// echoes a normal close.
		{"a close frame with a one-byte body", [][]byte{testutil.ClientFrame(testutil.FinBit|testutil.OpClose, []byte{3}, false)},
			[]int{0, websocket.CloseNormalClosure, websocket.CloseProtocolError}},
	}
	base := runtime.NumGoroutine()
	for _, tc := range cases {
		raw := testutil.DialRawWS(t, s)
		for _, b := range tc.bytes {
			if raw.WriteBytes(b) != nil {
				break
			}
		}
		assert.Contains(t, tc.codes, raw.AwaitEnd(t, closeWait), tc.name)
		_ = raw.Conn.Close()
	}
	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	by.stillServed(t)
}
