package regression

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

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
	raw := testutil.DialRawWS(t, s)
	require.NoError(t, raw.Write(false, testutil.OpText, []byte(`{"type":`)))
	require.NoError(t, raw.WriteHeader(true, testutil.OpContinuation, 1<<63-1))
	assert.Equal(t, protocol.CloseTooBig, raw.AwaitEnd(t, testutil.Timeout))
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
	raw := testutil.DialRawWS(t, s)
	ping := testutil.ClientFrame(testutil.FinBit|testutil.OpPing, []byte("0123456789abcdef0123456789abcdef"), false)
	batch := make([]byte, 0, len(ping)*1000)
	for i := 0; i < 1000; i++ {
		batch = append(batch, ping...)
	}
	before := heapInUse()
	for i := 0; i < 200; i++ { // 200,000 pings, never reading a pong
		if err := raw.WriteBytes(batch); err != nil {
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
