package adversarial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Generators of valid envelope fields, following SPEC §1's field rules.
var (
	idRunes = []rune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")
	genID   = rapid.StringOfN(rapid.RuneFrom(idRunes), 1, protocol.MaxIDLen, -1)
	genName = rapid.StringOfN(rapid.Rune().Filter(func(r rune) bool { return !unicode.IsControl(r) }),
		1, protocol.MaxNameLen, -1)
	// Timestamps anywhere in the accepted range (1970..9999 UTC, SPEC §1 as
	// the decoder enforces it), at the microsecond precision the wire carries.
	genTime = rapid.Custom(func(t *rapid.T) time.Time {
		lo := time.Unix(0, 0).UnixMicro()
		hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
		return time.UnixMicro(rapid.Int64Range(lo, hi).Draw(t, "micros")).UTC()
	})
	genObject = rapid.Custom(func(t *rapid.T) json.RawMessage {
		v := genJSONObject(t, 0)
		var b []byte
		var err error
		if rapid.Bool().Draw(t, "indented") {
			b, err = json.MarshalIndent(v, "", " \t")
		} else {
			b, err = json.Marshal(v)
		}
		if err != nil {
			t.Fatalf("marshal %v: %v", v, err)
		}
		return b
	})
)

func genJSONObject(t *rapid.T, depth int) map[string]any {
	n := rapid.IntRange(0, 4).Draw(t, "keys")
	m := make(map[string]any, n)
	for range n {
		m[rapid.String().Draw(t, "key")] = genJSONValue(t, depth+1)
	}
	return m
}

func genJSONValue(t *rapid.T, depth int) any {
	kinds := []string{"null", "bool", "int", "float", "string"}
	if depth < 5 {
		kinds = append(kinds, "array", "object")
	}
	switch rapid.SampledFrom(kinds).Draw(t, "kind") {
	case "bool":
		return rapid.Bool().Draw(t, "bool")
	case "int":
		return rapid.Int64().Draw(t, "int")
	case "float":
		return rapid.Float64Range(-1e300, 1e300).Draw(t, "float")
	case "string":
		return rapid.String().Draw(t, "string")
	case "array":
		n := rapid.IntRange(0, 3).Draw(t, "len")
		a := make([]any, n)
		for i := range a {
			a[i] = genJSONValue(t, depth+1)
		}
		return a
	case "object":
		return genJSONObject(t, depth+1)
	}
	return nil
}

func maybe[V any](t *rapid.T, label string, g *rapid.Generator[V]) V {
	var zero V
	if rapid.Bool().Draw(t, "has "+label) {
		return g.Draw(t, label)
	}
	return zero
}

// genEnvelope draws a valid client envelope and the envelope Decode must
// return for its encoding (the same one, with the alias type resolved).
func genEnvelope(t *rapid.T) (sent, want *protocol.Envelope) {
	e := &protocol.Envelope{Version: protocol.Version}
	e.Type = rapid.SampledFrom([]string{"message", "event", "command", "telemetry", "response", "error", "operator.join"}).Draw(t, "type")
	e.ID = maybe(t, "id", genID)
	e.Timestamp = maybe(t, "timestamp", genTime)
	e.Sender = maybe(t, "sender", genName)
	e.FromClient = maybe(t, "from_client", genName)
	e.Payload = maybe(t, "payload", genObject)
	e.Args = maybe(t, "args", genObject)
	e.Metadata = maybe(t, "metadata", genObject)
	e.RequestID = maybe(t, "request_id", rapid.StringN(1, protocol.MaxIDLen, -1))
	e.Status = maybe(t, "status", rapid.StringN(1, protocol.MaxStatusLen, -1))
	e.Error = maybe(t, "error", rapid.StringN(1, protocol.MaxErrorLen, -1))
	e.ErrorCode = maybe(t, "error_code", rapid.StringN(1, protocol.MaxCodeLen, -1))
	e.Command = maybe(t, "command", rapid.StringN(1, protocol.MaxCommandLen, -1))
	e.ToClient = maybe(t, "to_client", genName)
	if rapid.Bool().Draw(t, "has route") {
		e.Room, e.Channel = genName.Draw(t, "room"), genName.Draw(t, "channel")
	} else if e.Type != "message" && e.Type != "event" && e.Type != "telemetry" {
		// Only messages and telemetry need both halves of a route.
		e.Room = maybe(t, "room alone", genName)
	}
	switch e.Type { // required fields (SPEC §1)
	case "message", "event":
		if e.Payload == nil {
			e.Payload = json.RawMessage(`{}`)
		}
		if e.Room == "" && e.ToClient == "" {
			e.ToClient = genName.Draw(t, "required to_client")
		}
	case "command":
		if e.Command == "" {
			e.Command = "ping"
		}
	case "response":
		if e.RequestID == "" {
			e.RequestID = genID.Draw(t, "required request_id")
		}
		if e.Status == "" {
			e.Status = protocol.StatusSuccess
		}
	case "error":
		if e.Error == "" {
			e.Error = "boom"
		}
	case "operator.join":
		if e.Payload == nil {
			e.Payload = json.RawMessage(`{}`)
		}
	}
	w := *e
	if w.Type == "event" {
		w.Type = "message"
	}
	return e, &w
}

// sameEnvelope compares envelopes field by field (times by instant, raw
// fields byte for byte).
func sameEnvelope(a, b *protocol.Envelope) bool {
	x, y := *a, *b
	if !x.Timestamp.Equal(y.Timestamp) {
		return false
	}
	x.Timestamp, y.Timestamp = time.Time{}, time.Time{}
	if !bytes.Equal(x.Payload, y.Payload) || !bytes.Equal(x.Args, y.Args) || !bytes.Equal(x.Metadata, y.Metadata) {
		return false
	}
	x.Payload, y.Payload, x.Args, y.Args, x.Metadata, y.Metadata = nil, nil, nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

// Property: for every valid envelope e, Decode(Encode(e)) == e.
func TestPropertyDecodingAnEncodedValidEnvelopeGivesItBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sent, want := genEnvelope(t)
		frame := protocol.Encode(sent)
		got, err := protocol.Decode(frame, protocol.DefaultLimits)
		if err != nil {
			t.Fatalf("a valid envelope was refused: %v\nframe: %s", err, frame)
		}
		if !sameEnvelope(got, want) {
			t.Fatalf("round trip changed the envelope\nframe: %s\ngot:   %s", frame, protocol.Encode(got))
		}
		if again := protocol.Encode(got); !bytes.Equal(again, protocol.Encode(want)) {
			t.Fatalf("re-encoding differs:\n%s\n%s", again, protocol.Encode(want))
		}
	})
}

// quoted matches a Go-quoted string, as problems quote client input.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// checkDecodeContract runs Decode on b and checks what it may return: an
// envelope that round-trips, or a *protocol.Error with VALIDATION_ERROR, a
// short non-empty problem list and no Go internals.
func checkDecodeContract(t *rapid.T, b []byte) {
	env, err := protocol.Decode(b, protocol.DefaultLimits)
	if err != nil {
		var we *protocol.Error
		if !errors.As(err, &we) {
			t.Fatalf("Decode returned %T, not *protocol.Error: %v", err, err)
		}
		if !slices.Contains(protocol.Codes, we.Code) || we.Code != protocol.CodeValidation {
			t.Fatalf("Decode returned code %q", we.Code)
		}
		if len(we.Problems) == 0 || len(we.Problems) > 20 {
			t.Fatalf("Decode returned %d problems", len(we.Problems))
		}
		// Problems may quote the frame's own text; only the rest is searched.
		text := quoted.ReplaceAllString(we.Error(), `""`)
		for _, w := range internalWords {
			if strings.Contains(text, w) {
				t.Fatalf("the error leaks %q: %v", w, we)
			}
		}
		return
	}
	again, err := protocol.Decode(protocol.Encode(env), protocol.DefaultLimits)
	if err != nil || !sameEnvelope(env, again) {
		t.Fatalf("an accepted frame does not round-trip: %v\nframe:   %q\nencoded: %s", err, b, protocol.Encode(env))
	}
}

// Property: Decode never panics on any byte string and returns only the
// documented error.
func TestPropertyDecodeNeverPanicsOnAnyBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkDecodeContract(t, rapid.SliceOf(rapid.Byte()).Draw(t, "bytes"))
	})
}

// Property: the same holds for frames shaped like envelopes, with the real
// field names carrying values of any kind, which reach deeper than random
// bytes do.
func TestPropertyDecodeNeverPanicsOnEnvelopeShapedJunk(t *testing.T) {
	fields := []string{"id", "timestamp", "type", "version", "room", "channel", "sender", "from_client",
		"to_client", "payload", "command", "args", "request_id", "status", "error", "error_code", "metadata", "parameters"}
	rapid.Check(t, func(t *rapid.T) {
		m := map[string]any{}
		for range rapid.IntRange(0, 8).Draw(t, "fields") {
			name := rapid.SampledFrom(fields).Draw(t, "field")
			switch rapid.IntRange(0, 3).Draw(t, "value kind") {
			case 0:
				m[name] = rapid.SampledFrom([]string{"message", "event", "command", "telemetry", "response",
					"error", "operator.join", "message_response", "1.0", "2026-01-02T03:04:05Z", "ping", ""}).Draw(t, "known")
			case 1:
				m[name] = map[string]any{"command": genJSONValue(t, 3), "parameters": genJSONValue(t, 3)}
			default:
				m[name] = genJSONValue(t, 2)
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		if cut := rapid.IntRange(0, len(b)).Draw(t, "cut"); rapid.Bool().Draw(t, "truncate") {
			b = b[:cut]
		}
		checkDecodeContract(t, b)
	})
}

// rfc3339 is the shape SPEC §1 promises for every timestamp the server
// writes: RFC 3339, UTC with Z, microseconds (a four-digit year, as RFC 3339
// §5.6 allows no other).
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

// Property: a timestamp the decoder accepts, with any offset, is written back
// as RFC 3339 UTC, which the decoder accepts again as the same instant.
func TestPropertyEveryAcceptedTimestampIsReEmittedAsRFC3339(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		year, month, day := rapid.IntRange(0, 9999).Draw(t, "year"), rapid.IntRange(1, 12).Draw(t, "month"),
			rapid.IntRange(1, 31).Draw(t, "day") // an impossible date may be refused
		hour := rapid.IntRange(0, 23).Draw(t, "hour")
		switch rapid.IntRange(0, 2).Draw(t, "near an end of the range") {
		case 1:
			year, month, day, hour = 0, 1, 1, rapid.IntRange(0, 1).Draw(t, "early hour")
		case 2:
			year, month, day, hour = 9999, 12, 31, rapid.IntRange(22, 23).Draw(t, "late hour")
		}
		ts := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06d", year, month, day, hour,
			rapid.IntRange(0, 59).Draw(t, "minute"), rapid.IntRange(0, 59).Draw(t, "second"),
			rapid.IntRange(0, 999999).Draw(t, "micros"))
		switch rapid.IntRange(0, 2).Draw(t, "zone") {
		case 0:
			ts += "Z"
		case 1:
			ts += fmt.Sprintf("%s%02d:%02d", rapid.SampledFrom([]string{"+", "-"}).Draw(t, "sign"),
				rapid.IntRange(0, 23).Draw(t, "offset hours"), rapid.IntRange(0, 59).Draw(t, "offset minutes"))
		}
		frame := `{"type":"command","command":"ping","timestamp":"` + ts + `"}`
		env, err := protocol.Decode([]byte(frame), protocol.DefaultLimits)
		if err != nil || env.Timestamp.IsZero() {
			return // refusing it is allowed; so is the zero instant, which reads as "absent"
		}
		out := protocol.FormatTimestamp(env.Timestamp)
		if !rfc3339.MatchString(out) {
			t.Fatalf("accepted %q but writes it back as %q, which is not RFC 3339", ts, out)
		}
		again, err := protocol.Decode(protocol.Encode(env), protocol.DefaultLimits)
		if err != nil || !again.Timestamp.Equal(env.Timestamp) {
			t.Fatalf("accepted %q but cannot read back its own %q: %v", ts, out, err)
		}
	})
}
