package regression

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The Python server checked client-supplied ids against a pattern that
// refused the very ids its documentation used (arq_msg_001), so the
// documented examples failed with a validation error. Now any id of 1-128
// characters of [A-Za-z0-9_.:-] is accepted, acknowledged under that id and
// delivered with it (SPEC §1, §3, §4).
func TestRegression_DocumentedIDsLikeArqMsg001AreAccepted(t *testing.T) {
	s := testutil.StartServer(t)
	pub, sub := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, sub, "docs", "examples")

	for _, id := range []string{"arq_msg_001", "arq_msg_002", "order-42.v1:retry", "X", strings.Repeat("a", protocol.MaxIDLen)} {
		r := testutil.Request(t, pub, &protocol.Envelope{ID: id, Type: protocol.TypeMessage,
			Room: "docs", Channel: "examples", Payload: json.RawMessage(`{"ok":true}`)})
		require.Equal(t, protocol.TypeMessageResponse, r.Type, "id %q: reply %s", id, protocol.Encode(r))
		assert.Equal(t, protocol.StatusSuccess, r.Status, "id %q", id)
		assert.Equal(t, id, r.ID, "the ack carries the client's id")
		got := testutil.Expect(t, sub)
		assert.Equal(t, id, got.ID, "the delivery keeps the client's id")
	}

	r := testutil.Request(t, pub, &protocol.Envelope{ID: "arq_cmd_001", Type: protocol.TypeCommand, Command: "ping"})
	assert.Equal(t, protocol.TypeResponse, r.Type)
	assert.Equal(t, protocol.StatusSuccess, r.Status)
	assert.Equal(t, "arq_cmd_001", r.RequestID)

	// The rule keeps its edges: too long or outside the alphabet is refused.
	raw := dialRaw(t, s.URL, nil)
	for _, bad := range []string{strings.Repeat("a", protocol.MaxIDLen+1), "arq msg 001", "arq/msg/001"} {
		got, _ := raw.roundTrip(fmt.Sprintf(`{"id":%q,"type":"command","command":"ping"}`, bad))
		assert.Equal(t, "VALIDATION_ERROR", got["error_code"], "id %q", bad)
	}
}

// Every command used to be answered twice: its response, then a second
// command_response ack, so clients that waited for "the" reply to an id
// read the wrong frame or leaked one per call. Now each command frame gets
// exactly one `response` and nothing else, success or error, and each
// message exactly one `message_response` (SPEC §3, §4).
func TestRegression_EveryCommandGetsExactlyOneReply(t *testing.T) {
	s := testutil.StartServer(t)
	c := dialRaw(t, s.URL, nil)
	commands := []string{
		`{"id":"c01","type":"command","command":"ping"}`,
		`{"id":"c02","type":"command","command":"status"}`,
		`{"id":"c03","type":"command","command":"whoami"}`,
		`{"id":"c04","type":"command","command":"help"}`,
		`{"id":"c05","type":"command","command":"join_channel","args":{"room":"r","channel":"c"}}`,
		`{"id":"c06","type":"command","command":"list_channels"}`,
		`{"id":"c07","type":"command","command":"channel_info","args":{"room":"r","channel":"c"}}`,
		`{"id":"c08","type":"command","command":"history","args":{"room":"r","channel":"c","limit":5}}`,
		`{"id":"c09","type":"command","command":"leave_channel","args":{"room":"r","channel":"c"}}`,
		`{"id":"c10","type":"command","command":"no_such_command"}`,
		`{"id":"c11","type":"command","command":"join_channel","args":{}}`,
		`{"id":"c12","type":"command","payload":{"command":"ping","parameters":{}}}`,
	}
	for _, f := range commands {
		c.send(f)
	}
	c.send(`{"id":"m01","type":"message","room":"r","channel":"c","payload":{}}`)

	frames := c.drain()
	replies := map[string][]string{}
	for _, f := range frames {
		m := obj(t, f)
		assert.NotEqual(t, protocol.TypeCommandResponse, m["type"], "a v1 server never sends command_response: %s", f)
		key, _ := m["request_id"].(string)
		replies[key] = append(replies[key], m["type"].(string))
	}
	for i := range commands {
		id := fmt.Sprintf("c%02d", i+1)
		assert.Equal(t, []string{protocol.TypeResponse}, replies[id], "command %s: %s", id, commands[i])
	}
	assert.Equal(t, []string{protocol.TypeMessageResponse}, replies["m01"], "the message")
	assert.Len(t, frames, len(commands)+1, "one frame per request, nothing else")
}

// internalWords never appear in a reply to a client: Go error texts, type
// names, stack traces and the Python server's exception texts.
var internalWords = []string{
	"json:", "Go value", "Go struct", "unmarshal", "Unmarshal", "invalid character",
	"unexpected end of JSON", "map[string]", "interface {}", "[]uint8", "RawMessage",
	"*protocol", "protocol.", "Envelope", "goroutine", "panic", "runtime error", ".go:",
	"Traceback", "Exception", "INTERNAL_ERROR",
}

// Invalid frames used to reach the handler, raise, and come back as
// INTERNAL_ERROR carrying the exception text, which told clients nothing
// useful and told attackers about the internals. Now malformed JSON, wrong
// types, unknown fields, bad timestamps, non-objects and bad UTF-8 inside a
// binary frame are VALIDATION_ERROR with a list of human-readable problems,
// and the connection stays open (SPEC §1, §4).
func TestRegression_InvalidFramesAreValidationErrorsWithoutInternals(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) { c.MaxViolations = 1000 }))
	c := dialRaw(t, s.URL, nil)
	cases := []struct {
		name   string
		frame  string
		binary bool
		// mention is a word the problems must contain, so the client
		// learns what to fix.
		mention string
	}{
		{"malformed JSON", `{not json`, false, "JSON"},
		{"truncated JSON", `{"type":"command","command":"ping"`, false, "JSON"},
		{"empty frame", ``, false, "empty"},
		{"array frame", `[1,2,3]`, false, "object"},
		{"string frame", `"hello"`, false, "object"},
		{"number frame", `42`, false, "object"},
		{"null frame", `null`, false, "object"},
		{"boolean frame", `true`, false, "object"},
		{"command of the wrong type", `{"type":"command","command":42}`, false, "command"},
		{"room of the wrong type", `{"type":"message","room":5,"channel":"c","payload":{}}`, false, "room"},
		{"payload not an object", `{"type":"message","room":"r","channel":"c","payload":[1]}`, false, "payload"},
		{"metadata not an object", `{"type":"command","command":"ping","metadata":"x"}`, false, "metadata"},
		{"unknown top-level field", `{"type":"command","command":"ping","bogus":1}`, false, "bogus"},
		{"bad timestamp", `{"type":"command","command":"ping","timestamp":"yesterday"}`, false, "timestamp"},
		{"unsupported version", `{"type":"command","command":"ping","version":"2.0"}`, false, "version"},
		{"unknown type", `{"type":"shout","payload":{}}`, false, "type"},
		{"message without payload", `{"type":"message","room":"r","channel":"c"}`, false, "payload"},
		{"invalid UTF-8 in a binary frame", "{\"type\":\"command\",\"command\":\"ping\",\"metadata\":{\"k\":\"\xff\xfe\"}}", true, "UTF-8"},
	}
	for _, tc := range cases {
		if tc.binary {
			c.sendBinary([]byte(tc.frame))
		} else {
			c.send(tc.frame)
		}
		got, raw := c.nextObj()
		require.Equal(t, protocol.TypeError, got["type"], "%s: %s", tc.name, raw)
		assert.Equal(t, "VALIDATION_ERROR", got["error_code"], "%s: %s", tc.name, raw)
		problems, _ := field(got, "payload", "errors").([]any)
		require.NotEmpty(t, problems, "%s: the reply lists the problems: %s", tc.name, raw)
		var text []string
		for _, p := range problems {
			ps, ok := p.(string)
			require.True(t, ok, "%s: each problem is a sentence: %s", tc.name, raw)
			require.NotEmpty(t, ps, tc.name)
			text = append(text, ps)
		}
		assert.Contains(t, strings.Join(text, "; "), tc.mention, "%s: the problems say what is wrong: %s", tc.name, raw)
		for _, w := range internalWords {
			assert.NotContains(t, string(raw), w, "%s: the reply leaks internals: %s", tc.name, raw)
		}
	}
	got, _ := c.roundTrip(`{"id":"still_open","type":"command","command":"ping"}`)
	assert.Equal(t, protocol.StatusSuccess, got["status"], "the connection stays open")
	assert.Zero(t, s.Counter(t, "errors_total", "INTERNAL_ERROR"), "no frame was an internal error")
	assert.Equal(t, float64(len(cases)), s.Counter(t, "errors_total", "VALIDATION_ERROR"))
}

// from_client, the legacy twin of sender, used to be passed through as the
// client wrote it, so any client could put a message in another client's
// name. Now the server overwrites sender and from_client with the
// connection's own client id on room messages, direct messages and in
// history (SPEC §1, §3).
func TestRegression_FromClientCannotBeSpoofed(t *testing.T) {
	s := testutil.StartServer(t)
	mallory, bob, alice := testutil.Dial(t, s), testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, bob, "bank", "transfers")

	r := testutil.Request(t, mallory, &protocol.Envelope{Type: protocol.TypeMessage, Room: "bank", Channel: "transfers",
		Sender: alice.ID(), FromClient: alice.ID(), Payload: json.RawMessage(`{"pay":"mallory"}`)})
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "reply %s", protocol.Encode(r))
	got := testutil.Expect(t, bob)
	assert.Equal(t, mallory.ID(), got.FromClient, "room message: from_client is the real sender")
	assert.Equal(t, mallory.ID(), got.Sender, "room message: sender is the real sender")

	r = testutil.Request(t, mallory, &protocol.Envelope{Type: protocol.TypeMessage, ToClient: bob.ID(),
		FromClient: alice.ID(), Payload: json.RawMessage(`{"dm":true}`)})
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "reply %s", protocol.Encode(r))
	got = testutil.Expect(t, bob)
	assert.Equal(t, mallory.ID(), got.FromClient, "direct message: from_client is the real sender")
	assert.Equal(t, mallory.ID(), got.Sender)

	h := testutil.Command(t, bob, "history", map[string]any{"room": "bank", "channel": "transfers"})
	msgs := h["messages"].([]any)
	require.Len(t, msgs, 1)
	assert.Equal(t, mallory.ID(), field(msgs[0].(map[string]any), "from_client"), "history keeps the real sender")
}

// Clients of the 1.0 SDK send offset-less timestamps (Python's
// isoformat()); refusing them or reading them in the server's zone breaks
// those clients, and timestamps written in more than one form break every
// parser downstream. Now offset-less input is taken as UTC, offsets are
// converted, and every timestamp the server writes is RFC 3339 UTC with Z
// and exactly six fractional digits (SPEC §1).
func TestRegression_TimestampsAreReadAsUTCAndWrittenInOneForm(t *testing.T) {
	s := testutil.StartServer(t)
	pub, sub := dialRaw(t, s.URL, nil), dialRaw(t, s.URL, nil)
	assert.Regexp(t, timestampPattern, obj(t, pub.welcome)["timestamp"], "welcome")
	join, raw := sub.roundTrip(`{"id":"j","type":"command","command":"join_channel","args":{"room":"clock","channel":"ticks"}}`)
	require.Equal(t, protocol.StatusSuccess, join["status"], "join: %s", raw)
	assert.Regexp(t, timestampPattern, join["timestamp"], "command response")

	cases := []struct{ in, want string }{
		{"2024-03-01T12:34:56.123456", "2024-03-01T12:34:56.123456Z"},
		{"2024-03-01T12:34:56", "2024-03-01T12:34:56.000000Z"},
		{"2024-03-01T14:34:56.5+02:00", "2024-03-01T12:34:56.500000Z"},
		{"2024-03-01T07:04:56.25-05:30", "2024-03-01T12:34:56.250000Z"},
		{"2024-03-01T12:34:56.123456789Z", "2024-03-01T12:34:56.123456Z"},
		{"2024-03-01T12:34:56Z", "2024-03-01T12:34:56.000000Z"},
	}
	for i, tc := range cases {
		ack, raw := pub.roundTrip(fmt.Sprintf(`{"id":"t%d","type":"message","room":"clock","channel":"ticks","timestamp":%q,"payload":{}}`, i, tc.in))
		require.Equal(t, protocol.TypeMessageResponse, ack["type"], "input %q: %s", tc.in, raw)
		assert.Regexp(t, timestampPattern, ack["timestamp"], "ack")
		got, raw := sub.nextObj()
		assert.Equal(t, tc.want, got["timestamp"], "input %q delivered as %s", tc.in, raw)
	}

	// A message without a timestamp gets the server's time, in the same form.
	ack, _ := pub.roundTrip(`{"id":"now","type":"message","room":"clock","channel":"ticks","payload":{}}`)
	require.Equal(t, protocol.TypeMessageResponse, ack["type"])
	got, _ := sub.nextObj()
	assert.Regexp(t, timestampPattern, got["timestamp"], "server-stamped delivery")

	errReply, _ := pub.roundTrip(`{"type":"command","command":"ping","timestamp":"not a time"}`)
	assert.Regexp(t, timestampPattern, errReply["timestamp"], "error reply")

	h, raw := sub.roundTrip(`{"id":"h","type":"command","command":"history","args":{"room":"clock","channel":"ticks"}}`)
	msgs, _ := field(h, "payload", "data", "messages").([]any)
	require.Len(t, msgs, len(cases)+1, "history: %s", raw)
	for i, tc := range cases {
		assert.Equal(t, tc.want, msgs[i].(map[string]any)["timestamp"], "history entry for input %q", tc.in)
	}
	assert.Regexp(t, timestampPattern, msgs[len(cases)].(map[string]any)["timestamp"])
}

// Clients of the 1.0 SDK send commands in the legacy shape, with the
// command and its parameters inside the payload; a server that reads only
// the top-level command field answers them VALIDATION_ERROR and breaks the
// SDK. Now that shape is read as command and args, checked and answered
// once like any other command (SPEC §1).
func TestRegression_LegacyCommandShapeIsAccepted(t *testing.T) {
	s := testutil.StartServer(t)
	c := dialRaw(t, s.URL, nil)

	st, raw := c.roundTrip(`{"type":"command","id":"legacy_status","payload":{"command":"status","parameters":{}}}`)
	require.Equal(t, protocol.TypeResponse, st["type"], "status: %s", raw)
	assert.Equal(t, "legacy_status", st["request_id"])
	assert.Equal(t, protocol.StatusSuccess, st["status"], "status: %s", raw)
	assert.Equal(t, "arqonbus", field(st, "payload", "data", "service"), "the status command ran: %s", raw)
	assert.NotNil(t, field(st, "payload", "data", "storage"), "status data: %s", raw)

	join, raw := c.roundTrip(`{"type":"command","id":"legacy_join","payload":{"command":"join_channel","parameters":{"room":"science","channel":"explore"}}}`)
	require.Equal(t, protocol.StatusSuccess, join["status"], "join: %s", raw)
	assert.Equal(t, "science", field(join, "payload", "data", "room"))
	assert.Equal(t, "explore", field(join, "payload", "data", "channel"))

	who, raw := c.roundTrip(`{"type":"command","id":"legacy_whoami","payload":{"command":"whoami"}}`)
	require.Equal(t, protocol.StatusSuccess, who["status"], "whoami: %s", raw)
	assert.Equal(t, []any{map[string]any{"room": "science", "channel": "explore"}},
		field(who, "payload", "data", "subscriptions"), "the legacy join took effect")

	bad, raw := c.roundTrip(`{"type":"command","id":"legacy_bad","payload":{"command":"join_channel","parameters":{"room":7}}}`)
	assert.Equal(t, "VALIDATION_ERROR", bad["error_code"], "legacy parameters are checked like args: %s", raw)
	c.expectQuiet()
}
