package adversarial

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §1: unknown top-level fields are VALIDATION_ERROR, whatever they are
// called, and the problem names the field.
func TestUnknownFieldsAreValidationErrorsNamingTheField(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	for _, field := range []string{"bogus", "ID", "Type", "__proto__", "constructor", "", " id", "id ", "payload\u0000", "пэйлоад", "$where"} {
		frame, err := json.Marshal(map[string]any{"id": "unk-1", "type": "command", "command": "ping", field: 1})
		require.NoError(t, err)
		sendText(t, c, string(frame))
		got := expectCode(t, c, protocol.CodeValidation, "field "+field)
		assert.Equal(t, "unk-1", got.RequestID, "the reply names the offending envelope")
		assert.Contains(t, strings.Join(problems(t, got), "\n"), "unknown field", "field %q", field)
	}
	assertStillOpen(t, c)
	by.stillServed(t)
}

// complete holds, per type, a frame carrying every field SPEC §1 requires
// (plus a route, so that routed types are served), and the fields to leave
// out in turn. For telemetry nothing is required, but the two halves of a
// route go together, so each half is left out in turn.
var complete = []struct {
	typ      string
	fields   map[string]any
	required []string
}{
	{"message", map[string]any{"room": "r", "channel": "c", "payload": map[string]any{}}, []string{"payload", "room", "channel"}},
	{"event", map[string]any{"room": "r", "channel": "c", "payload": map[string]any{}}, []string{"payload", "room", "channel"}},
	{"message", map[string]any{"to_client": "", "payload": map[string]any{}}, []string{"payload", "to_client"}},
	{"command", map[string]any{"command": "ping"}, []string{"command"}},
	{"response", map[string]any{"request_id": "q-1", "status": "success", "room": "r", "channel": "c"}, []string{"request_id", "status"}},
	{"error", map[string]any{"error": "it broke", "room": "r", "channel": "c"}, []string{"error"}},
	{"operator.join", map[string]any{"payload": map[string]any{"group": "g"}}, []string{"payload"}},
	{"telemetry", map[string]any{"room": "r", "channel": "c", "payload": map[string]any{}}, []string{"room", "channel"}},
}

// SPEC §1: each field a type requires, left out in turn, is a
// VALIDATION_ERROR naming it; the complete frame is not.
func TestEachRequiredFieldLeftOutInTurnIsAValidationError(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c, target := testutil.Dial(t, s), testutil.Dial(t, s)
	for _, tc := range complete {
		full := maps.Clone(tc.fields)
		full["type"] = tc.typ
		if _, ok := full["to_client"]; ok {
			full["to_client"] = target.ID()
		}
		drops := append([]string{"type"}, tc.required...)
		for _, drop := range drops {
			frame := maps.Clone(full)
			delete(frame, drop)
			frame["id"] = "req-" + strings.ReplaceAll(tc.typ, ".", "-") + "-" + drop
			b, err := json.Marshal(frame)
			require.NoError(t, err)
			sendText(t, c, string(b))
			got := expectCode(t, c, protocol.CodeValidation, tc.typ+" without "+drop)
			assert.Equal(t, frame["id"], got.RequestID)
			assert.Contains(t, strings.Join(problems(t, got), "\n"), drop, "%s without %s: the problem names the field", tc.typ, drop)
		}
		full["id"] = "req-" + strings.ReplaceAll(tc.typ, ".", "-") + "-complete"
		b, err := json.Marshal(full)
		require.NoError(t, err)
		sendText(t, c, string(b))
		if tc.typ == "telemetry" {
			continue // never acknowledged (SPEC §3)
		}
		got := testutil.Expect(t, c)
		assert.NotEqual(t, string(protocol.CodeValidation), got.ErrorCode, "complete %s: %s", tc.typ, protocol.Encode(got))
		assert.Equal(t, full["id"], got.RequestID, "complete %s gets its one reply", tc.typ)
	}
	testutil.ExpectNone(t, c, 50*time.Millisecond)
	assertStillOpen(t, c)
	by.stillServed(t)
}

// fieldKinds are the JSON kinds each envelope field must have (SPEC §1).
var fieldKinds = map[string]string{
	"id": "string", "timestamp": "string", "type": "string", "version": "string",
	"room": "string", "channel": "string", "sender": "string", "from_client": "string",
	"to_client": "string", "payload": "object", "command": "string", "args": "object",
	"request_id": "string", "status": "string", "error": "string", "error_code": "string",
	"metadata": "object",
}

// wrongValues are values of every JSON kind but null (null means absent).
var wrongValues = map[string]any{
	"number": 7, "float": -0.5, "true": true, "false": false,
	"array": []any{"a"}, "empty array": []any{}, "object": map[string]any{"a": 1},
	"string": "text",
}

// SPEC §1: a field of the wrong JSON type is a VALIDATION_ERROR naming the
// field, for every field and every wrong kind.
func TestEveryFieldWithTheWrongJSONTypeIsAValidationError(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	rows := 0
	for _, field := range slices.Sorted(maps.Keys(fieldKinds)) {
		for _, kind := range slices.Sorted(maps.Keys(wrongValues)) {
			value := wrongValues[kind]
			if kind == fieldKinds[field] {
				continue // the right kind
			}
			frame := map[string]any{"type": "message", "room": "r", "channel": "c", "payload": map[string]any{}, field: value}
			if field != "id" {
				frame["id"] = "wrong-" + field
			}
			b, err := json.Marshal(frame)
			require.NoError(t, err)
			sendText(t, c, string(b))
			what := field + " as " + kind
			got := expectCode(t, c, protocol.CodeValidation, what)
			assert.Contains(t, strings.Join(problems(t, got), "\n"), field, "%s: the problem names the field", what)
			if field != "id" {
				assert.Equal(t, "wrong-"+field, got.RequestID, what)
			}
			assertNoInternals(t, got, what)
			rows++
		}
	}
	assert.Equal(t, 17*7, rows, "every field was tried with every wrong kind")
	assertStillOpen(t, c)
	by.stillServed(t)
}

// SPEC §1/§3: sender and from_client are always overwritten with the
// sender's client id; no client can speak as another or as the server.
func TestSpoofedSenderAndFromClientAreOverwrittenWithTheRealClientID(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)
	a, b, victim := testutil.Dial(t, s), testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, b, "spoof", "c")
	for _, claim := range []string{"arqonbus", victim.ID(), b.ID(), "admin"} {
		for _, fields := range []map[string]string{
			{"sender": claim}, {"from_client": claim}, {"sender": claim, "from_client": claim},
		} {
			env := &protocol.Envelope{Type: "message", Room: "spoof", Channel: "c", Payload: json.RawMessage(`{}`),
				Sender: fields["sender"], FromClient: fields["from_client"]}
			r := testutil.Request(t, a, env)
			require.Equal(t, protocol.TypeMessageResponse, r.Type, protocol.Encode(r))
			got := testutil.Expect(t, b)
			assert.Equal(t, a.ID(), got.Sender, "claimed %v", fields)
			assert.Equal(t, a.ID(), got.FromClient, "claimed %v", fields)
		}
		r := testutil.Request(t, a, &protocol.Envelope{Type: "message", ToClient: b.ID(), Sender: claim,
			FromClient: claim, Payload: json.RawMessage(`{}`)})
		require.Equal(t, protocol.TypeMessageResponse, r.Type, protocol.Encode(r))
		got := testutil.Expect(t, b)
		assert.Equal(t, a.ID(), got.Sender, "direct message claiming %s", claim)
		assert.Equal(t, a.ID(), got.FromClient, "direct message claiming %s", claim)
	}
	testutil.ExpectNone(t, victim, 50*time.Millisecond)
	by.stillServed(t)
}

// SPEC §3/§7 (fix): a pair is stored as (room, channel), never as a joined
// string, so a:b/c and a/b:c never mix, however they are joined.
func TestRoomsAndChannelsWithColonsNeverMix(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)
	pub := testutil.Dial(t, s)
	abC, aBC, shorthand := testutil.Dial(t, s), testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, abC, "a:b", "c")
	testutil.Join(t, aBC, "a", "b:c")
	// The shorthand splits at the first colon: a / b:c.
	data := testutil.Command(t, shorthand, "join_channel", map[string]string{"room": "a:b:c"})
	assert.Equal(t, "a", data["room"])
	assert.Equal(t, "b:c", data["channel"])

	ack := testutil.Publish(t, pub, "a:b", "c", map[string]string{"to": "a:b/c"})
	assert.Equal(t, 1, ack.Delivered)
	assert.JSONEq(t, `{"to":"a:b/c"}`, string(testutil.Expect(t, abC).Payload))

	ack = testutil.Publish(t, pub, "a", "b:c", map[string]string{"to": "a/b:c"})
	assert.Equal(t, 2, ack.Delivered)
	assert.JSONEq(t, `{"to":"a/b:c"}`, string(testutil.Expect(t, aBC).Payload))
	assert.JSONEq(t, `{"to":"a/b:c"}`, string(testutil.Expect(t, shorthand).Payload))

	for _, c := range []*client.Client{abC, aBC, shorthand} {
		testutil.ExpectNone(t, c, 50*time.Millisecond)
	}
	rooms := map[string]bool{}
	for _, ch := range testutil.Command(t, pub, "list_channels", nil)["channels"].([]any) {
		info := ch.(map[string]any)
		rooms[info["room"].(string)+" / "+info["channel"].(string)] = true
	}
	assert.Equal(t, map[string]bool{"a:b / c": true, "a / b:c": true, bystanderRoom + " / " + bystanderChannel: true},
		rooms, "two pairs, kept apart")
	by.stillServed(t)
}

// SPEC §1: room and channel names are 1–128 characters without control
// characters, both in envelopes and in join_channel; longer or dirtier names
// are VALIDATION_ERROR.
func TestRoomNamesWithControlCharactersOrOverlongAreValidationErrors(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	bad := map[string]string{
		"a NUL":            "r\u0000",
		"a newline":        "r\n",
		"a tab":            "\tr",
		"an escape":        "r\u001b[31m",
		"DEL":              "r\u007f",
		"a C1 control NEL": "r\u0085",
		"empty":            "",
		"129 characters":   strings.Repeat("r", 129),
		"4 KiB":            strings.Repeat("r", 4096),
		"129 runes of é":   strings.Repeat("é", 129),
	}
	for _, name := range slices.Sorted(maps.Keys(bad)) {
		room := bad[name]
		for _, field := range []string{"room", "channel"} {
			frame := map[string]any{"id": "bad-name", "type": "message", "room": "r", "channel": "c", "payload": map[string]any{}}
			frame[field] = room
			b, err := json.Marshal(frame)
			require.NoError(t, err)
			sendText(t, c, string(b))
			got := expectCode(t, c, protocol.CodeValidation, field+" with "+name)
			assert.Less(t, len(protocol.Encode(got)), 2048, "%s with %s: the name is not echoed", field, name)

			args := map[string]string{"room": "r", "channel": "c"}
			args[field] = room
			_, err = c.Command(testutil.Ctx(t), "join_channel", args)
			require.Error(t, err, "join with %s %s", field, name)
			assert.Equal(t, protocol.CodeValidation, protocol.AsWire(err).Code, "join with %s %s", field, name)
		}
	}
	for _, good := range []string{strings.Repeat("r", 128), strings.Repeat("é", 128), "emoji 🚀", "zero\u200bwidth", "a:b"} {
		testutil.Join(t, c, good, "c")
		testutil.Publish(t, by.pub, good, "c", map[string]any{})
	}
	assertStillOpen(t, c)
	by.stillServed(t)
}

// SPEC §1: output timestamps are always RFC 3339 UTC with Z. A client
// timestamp with an offset that moves the instant out of years 0000–9999
// must be refused, or delivered in a form peers can read; the server's own
// decoder is such a peer.
func TestTimestampsPushedPastYear0000Or9999ByTheirOffsetAreNeverDeliveredAsNonRFC3339(t *testing.T) {
	s := start(t)
	frames := make(chan []byte, 8)
	pub := testutil.Dial(t, s)
	peer := testutil.Dial(t, s, client.Options{OnFrame: func(b []byte) { frames <- bytes.Clone(b) }})
	testutil.Join(t, peer, "time", "edge")
	for _, ts := range []string{"0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "9999-12-31T23:00:00-23:59"} {
		frame := `{"id":"edge","type":"message","room":"time","channel":"edge","payload":{},"timestamp":"` + ts + `"}`
		sendText(t, pub, frame)
		r := testutil.Expect(t, pub)
		if r.ErrorCode == string(protocol.CodeValidation) {
			continue // refused: fine
		}
		require.Equal(t, protocol.TypeMessageResponse, r.Type)
		select {
		case got := <-frames:
			var probe struct {
				Timestamp string `json:"timestamp"`
			}
			require.NoError(t, json.Unmarshal(got, &probe))
			assert.Regexp(t, rfc3339, probe.Timestamp, "client timestamp %s", ts)
			_, err := protocol.Decode(got, protocol.Limits{ServerFrames: true})
			assert.NoError(t, err, "a peer cannot read the delivery of client timestamp %s", ts)
		case <-time.After(testutil.Timeout):
			t.Fatalf("no delivery for timestamp %s", ts)
		}
	}
}

// SPEC §3: the delivered envelope keeps the sender's timestamp. The earliest
// RFC 3339 instant, 0001-01-01T00:00:00Z, is a timestamp like any other and
// is not "absent".
// TestAClientTimestampOutsideTheStorableRangeIsRefused: Go's zero time
// (0001-01-01T00:00:00Z) once meant "absent" and was silently replaced with
// server time. Timestamps now must lie in 1970..9999 UTC (stream ids count
// milliseconds since the epoch), and anything else is a VALIDATION_ERROR
// naming the range instead of a silent rewrite.
func TestAClientTimestampOutsideTheStorableRangeIsRefused(t *testing.T) {
	s := start(t)
	pub, peer := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, peer, "time", "first")
	for _, ts := range []string{"0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z"} {
		sendText(t, pub, `{"id":"first","type":"message","room":"time","channel":"first","payload":{},"timestamp":"`+ts+`"}`)
		r := testutil.Expect(t, pub)
		require.Equal(t, protocol.TypeError, r.Type, protocol.Encode(r))
		assert.Equal(t, string(protocol.CodeValidation), r.ErrorCode)
		assert.Contains(t, r.Error, "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z")
	}
	sendText(t, pub, `{"id":"epoch","type":"message","room":"time","channel":"first","payload":{},"timestamp":"1970-01-01T00:00:00Z"}`)
	require.Equal(t, protocol.TypeMessageResponse, testutil.Expect(t, pub).Type)
	got := testutil.Expect(t, peer)
	assert.Equal(t, "1970-01-01T00:00:00.000000Z", protocol.FormatTimestamp(got.Timestamp), "the sender's timestamp is kept")
}
