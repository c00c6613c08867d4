package adversarial

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §1: JSON nesting is limited to 32 levels; deeper frames, however deep,
// are VALIDATION_ERROR and cost no more than a scan.
func TestDepthBombsAreValidationErrors(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	heap := liveHeap()
	const depth = 10000
	cases := []struct{ name, frame string }{
		{"10,000 nested arrays", strings.Repeat("[", depth) + strings.Repeat("]", depth)},
		{"10,000 nested objects", strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)},
		{"10,000 unclosed arrays", strings.Repeat("[", depth)},
		{"a bomb inside the payload", `{"type":"message","room":"r","channel":"c","payload":{"a":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`},
		{"a bomb inside args", `{"type":"command","command":"ping","args":{"a":` +
			strings.Repeat(`{"b":`, depth) + "0" + strings.Repeat("}", depth) + `}}`},
		{"33 levels, one too many", envelopeAtDepth(33)},
	}
	for _, tc := range cases {
		sendText(t, c, tc.frame)
		got := expectCode(t, c, protocol.CodeValidation, tc.name)
		assert.Less(t, len(protocol.Encode(got)), 1024, "%s: the answer is short", tc.name)
	}
	r := testutil.Request(t, c, mustDecode(t, envelopeAtDepth(32)))
	assert.Equal(t, protocol.TypeMessageResponse, r.Type, "32 levels are allowed: %s", protocol.Encode(r))
	assertStillOpen(t, c)
	heapBack(t, heap, 4<<20)
	by.stillServed(t)
}

// envelopeAtDepth is a valid message whose deepest value sits depth levels
// down (the envelope itself is level 1).
func envelopeAtDepth(depth int) string {
	inner := strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2)
	return `{"type":"message","room":"deep","channel":"c","payload":{"a":` + inner + `}}`
}

func mustDecode(t *testing.T, frame string) *protocol.Envelope {
	t.Helper()
	env, err := protocol.Decode([]byte(frame), protocol.DefaultLimits)
	require.NoError(t, err)
	return env
}

// A frame with 100,000 unknown keys gets one short answer: the problem list
// is capped (SPEC §1 asks for a list of problems, not an echo of the frame).
func TestAHundredThousandKeyObjectGetsAShortCappedProblemList(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	heap := liveHeap()
	var b strings.Builder
	b.WriteString(`{"type":"command","command":"ping","id":"many-keys"`)
	for i := range 100000 {
		b.WriteString(`,"k` + strconv.FormatInt(int64(i), 36) + `":0`)
	}
	b.WriteString("}")
	require.Less(t, b.Len(), 1<<20, "the frame fits the default frame limit")
	sendText(t, c, b.String())
	got := expectCode(t, c, protocol.CodeValidation, "100,000 keys")
	assert.Equal(t, "many-keys", got.RequestID)
	assert.LessOrEqual(t, len(problems(t, got)), 20, "the problem list is capped")
	assert.Less(t, len(protocol.Encode(got)), 4096, "the answer is short")
	assertStillOpen(t, c)
	b.Reset()
	heapBack(t, heap, 4<<20)
	by.stillServed(t)
}

// Huge strings travel where the envelope allows free text (payload) and are
// refused, without being echoed back, where a field has a length limit.
func TestHugeStringsAreCarriedInPayloadsAndRefusedUnechoedInLimitedFields(t *testing.T) {
	s := start(t, tolerant, func(c *config.Config) { c.EnablePersistence = false })
	by := newBystander(t, s)
	c, peer := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, peer, "huge", "c")
	heap := liveHeap()
	big := pad(900 << 10)

	payload := protocol.Object(map[string]string{"s": big})
	r := testutil.Request(t, c, &protocol.Envelope{Type: "message", Room: "huge", Channel: "c", Payload: payload})
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "a 900 KiB payload string within the frame limit is accepted")
	got := testutil.Expect(t, peer)
	assert.Equal(t, string(payload), string(got.Payload), "and delivered byte for byte")

	cases := []struct{ name, frame string }{
		{"a huge room", `{"type":"message","room":"` + big + `","channel":"c","payload":{}}`},
		{"a huge channel", `{"type":"message","room":"r","channel":"` + big + `","payload":{}}`},
		{"a huge to_client", `{"type":"message","to_client":"` + big + `","payload":{}}`},
		{"a huge type", `{"type":"` + big + `"}`},
		{"a huge version", `{"type":"command","command":"ping","version":"` + big + `"}`},
		{"a huge timestamp", `{"type":"command","command":"ping","timestamp":"` + big + `"}`},
		{"a huge command", `{"type":"command","command":"` + big + `"}`},
		{"a huge error", `{"type":"error","error":"` + big + `","room":"r","channel":"c"}`},
		{"a huge request_id", `{"type":"response","request_id":"` + big + `","status":"success","room":"r","channel":"c"}`},
		{"a huge status", `{"type":"response","request_id":"q","status":"` + big + `","room":"r","channel":"c"}`},
		{"a huge error_code", `{"type":"error","error":"e","error_code":"` + big + `","room":"r","channel":"c"}`},
		{"a huge unknown key", `{"type":"command","command":"ping","` + big + `":1}`},
		{"a huge id", `{"type":"command","command":"ping","id":"` + big + `"}`},
	}
	for _, tc := range cases {
		sendText(t, c, tc.frame)
		got := expectCode(t, c, protocol.CodeValidation, tc.name)
		assert.Less(t, len(protocol.Encode(got)), 4096, "%s: the answer does not echo the string", tc.name)
		assert.Empty(t, got.RequestID, "%s: an invalid id is never echoed", tc.name)
	}
	testutil.ExpectNone(t, peer, 50*time.Millisecond)
	assertStillOpen(t, c)
	big, payload, got, cases = "", nil, nil, nil
	heapBack(t, heap, 8<<20)
	by.stillServed(t)
}

// SPEC §1: frames up to ARQONBUS_MAX_MESSAGE_SIZE are served; a larger frame,
// by one byte or by a hundred times, closes the connection with 1009.
func TestFramesAtTheLimitAreServedAndLargerOnesCloseWith1009(t *testing.T) {
	const limit = 4096
	s := start(t, func(c *config.Config) { c.MaxMessageSize = limit })
	by := newBystander(t, s)

	at := testutil.Dial(t, s)
	frame := sized(t, "at-limit", limit)
	require.NoError(t, at.SendRaw(websocket.TextMessage, frame))
	r := testutil.Expect(t, at)
	assert.Equal(t, protocol.TypeMessageResponse, r.Type, "a frame of exactly the limit is served: %s", protocol.Encode(r))

	for _, tc := range []struct {
		name string
		size int
		kind int
	}{
		{"one byte over, text", limit + 1, websocket.TextMessage},
		{"one byte over, binary", limit + 1, websocket.BinaryMessage},
		{"100 times over, text", 100 * limit, websocket.TextMessage},
		{"100 times over, binary", 100 * limit, websocket.BinaryMessage},
	} {
		c := testutil.Dial(t, s)
		// The write may fail part way: the server closes as soon as the
		// limit is passed.
		_ = c.SendRaw(tc.kind, sized(t, "over", tc.size))
		assert.Equal(t, protocol.CloseTooBig, testutil.ExpectClose(t, c, closeWait), tc.name)
	}
	by.stillServed(t)
}

// sized returns a valid message frame of exactly n bytes.
func sized(t *testing.T, id string, n int) []byte {
	t.Helper()
	head := `{"id":"` + id + `","type":"message","room":"sized","channel":"c","payload":{"p":"`
	tail := `"}}`
	require.GreaterOrEqual(t, n, len(head)+len(tail))
	f := []byte(head + pad(n-len(head)-len(tail)) + tail)
	require.True(t, json.Valid(f))
	return f
}

// SPEC §1/§3 with the default sizes (frame limit and send queue both 1 MiB,
// a combination the configuration accepts): a message exactly at the frame
// limit is a valid frame and is delivered to every member. The server adds
// sender, from_client, an id and a timestamp, so the delivered frame is a
// little larger than the limit; an idle subscriber with an empty queue must
// still get it rather than be closed as a slow consumer.
func TestAMessageAtTheFrameLimitReachesIdleSubscribersWithDefaultSizes(t *testing.T) {
	s := start(t, func(c *config.Config) { c.EnablePersistence = false })
	require.Equal(t, s.Config.MaxMessageSize, s.Config.SendQueueBytes, "the defaults under test")
	pub := testutil.Dial(t, s)
	subs := []*client.Client{testutil.Dial(t, s), testutil.Dial(t, s)}
	for _, c := range subs {
		testutil.Join(t, c, "limit", "c")
	}
	head := `{"type":"message","room":"limit","channel":"c","payload":{"p":"`
	tail := `"}}`
	frame := head + pad(s.Config.MaxMessageSize-len(head)-len(tail)) + tail
	require.Len(t, frame, s.Config.MaxMessageSize)
	sendText(t, pub, frame)
	r := testutil.Expect(t, pub)
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "the frame at the limit is accepted: %s", protocol.Encode(r))
	assert.JSONEq(t, `{"delivered":2,"persisted":false}`, string(r.Payload), "delivered to both members")
	for i, c := range subs {
		got, err := c.RecvTimeout(testutil.Timeout)
		if assert.NoError(t, err, "subscriber %d receives the message", i) {
			assert.Equal(t, pub.ID(), got.Sender)
		}
	}
	assert.Zero(t, s.Counter(t, "slow_consumer_disconnects_total"), "no idle subscriber is a slow consumer")
}

// SPEC §4: every command gets exactly one response. A history request whose
// answer would be larger than the client's send queue (20 stored messages
// of 100 KiB against the default 1 MiB queue) must still be answered (with
// fewer messages and complete:false, or an error), not end in a 4008 close
// of a client that was reading all along.
func TestAHistoryAnswerLargerThanTheSendQueueIsStillAnswered(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	for range 20 {
		testutil.Publish(t, c, "history", "big", map[string]string{"p": pad(100 << 10)})
	}
	r, err := c.Request(testutil.Ctx(t), &protocol.Envelope{Type: "command", Command: "history",
		Args: protocol.Object(map[string]any{"room": "history", "channel": "big", "limit": 20})})
	require.NoError(t, err, "the history command gets its one response")
	assert.Equal(t, protocol.TypeResponse, r.Type)
	assert.Zero(t, s.Counter(t, "slow_consumer_disconnects_total"), "a reading client is not a slow consumer")
	assertStillOpen(t, c)
	by.stillServed(t)
}
