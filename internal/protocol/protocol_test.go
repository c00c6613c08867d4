package protocol

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGoldenEnvelopesDecodeAndEncodeByteForByte(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := bytes.TrimSpace(mustRead(t, f))
			env, err := Decode(want, Limits{MaxDepth: 32, ServerFrames: true})
			require.NoError(t, err)
			assert.Equal(t, string(want), string(Encode(env)))
		})
	}
}

func TestServerRepliesMatchGoldenFiles(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	cases := map[string]*Envelope{
		"reply_welcome.json":       Welcome("arq_client_00000000000000000000000000000009", now),
		"reply_ack.json":           MessageAck("arq_msg_001", 3, true, now),
		"reply_command.json":       CommandReply("cmd-1", "pong", map[string]any{"pong": true}, now),
		"reply_command_error.json": CommandError("cmd-2", NewError(CodeUnknownCommand, `unknown command "nope"`), now),
		"reply_validation.json":    ErrorReply("bad-1", ValidationError("unknown field \"x\"", "payload must be a JSON object, got array"), now),
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			if env.ID != "" && strings.HasPrefix(env.ID, "arq_") && name != "reply_ack.json" {
				env.ID = "arq_generated" // generated ids differ per run
			}
			got := Encode(env)
			path := filepath.Join("testdata/golden/replies", name)
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			assert.Equal(t, string(bytes.TrimSpace(mustRead(t, path))), string(got))
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func decodeProblems(t *testing.T, frame string) []string {
	t.Helper()
	_, err := Decode([]byte(frame), DefaultLimits)
	require.Error(t, err, "frame %s", frame)
	we := AsWire(err)
	require.Equal(t, CodeValidation, we.Code)
	require.NotEmpty(t, we.Problems)
	return we.Problems
}

func TestDecodeRejectsBadFramesWithSpecificProblems(t *testing.T) {
	cases := []struct {
		name, frame, problem string
	}{
		{"malformed JSON names the byte", `{"type":`, "malformed JSON"},
		{"an array is not an object", `[1,2]`, "got array"},
		{"a number is not an object", `42`, "got number"},
		{"a string is not an object", `"hi"`, "got string"},
		{"a boolean is not an object", `true`, "got boolean"},
		{"null is not an object", `null`, "got null"},
		{"an empty frame", ``, "frame is empty"},
		{"invalid UTF-8", "{\"type\":\"message\xff\"}", "not valid UTF-8"},
		{"unknown fields are named", `{"type":"command","command":"ping","colour":"red"}`, `unknown field "colour"`},
		{"type is required", `{"payload":{}}`, "type is required"},
		{"unknown type", `{"type":"shout"}`, `type "shout" is not one of`},
		{"server-only types", `{"type":"message_response"}`, "sent by servers only"},
		{"bad version", `{"type":"command","command":"ping","version":"2.0"}`, `version "2.0" is not supported`},
		{"id with a space", `{"type":"command","command":"ping","id":"a b"}`, "id must be 1-128"},
		{"id too long", `{"type":"command","command":"ping","id":"` + strings.Repeat("a", 129) + `"}`, "id must be 1-128"},
		{"id of the wrong type", `{"type":"command","command":"ping","id":7}`, "id must be a string, got number"},
		{"payload must be an object", `{"type":"message","room":"r","channel":"c","payload":[1]}`, "payload must be a JSON object, got array"},
		{"args must be an object", `{"type":"command","command":"x","args":"y"}`, "args must be a JSON object, got string"},
		{"metadata must be an object", `{"type":"command","command":"x","metadata":1}`, "metadata must be a JSON object"},
		{"message needs a payload", `{"type":"message","room":"r","channel":"c"}`, "payload is required"},
		{"message needs a route", `{"type":"message","payload":{}}`, "room and channel, or to_client, are required"},
		{"room needs a channel", `{"type":"message","room":"r","payload":{}}`, "channel is required with room"},
		{"channel needs a room", `{"type":"message","channel":"c","payload":{}}`, "room is required with channel"},
		{"command needs a command", `{"type":"command"}`, "command is required"},
		{"response needs request_id", `{"type":"response","status":"success"}`, "request_id is required"},
		{"response needs status", `{"type":"response","request_id":"q"}`, "status is required"},
		{"error needs error", `{"type":"error"}`, "error is required"},
		{"operator.join needs payload", `{"type":"operator.join"}`, "payload is required for type operator.join"},
		{"room with a control character", `{"type":"message","room":"a\u0007","channel":"c","payload":{}}`, "room must not contain control characters"},
		{"room too long", `{"type":"message","room":"` + strings.Repeat("r", 129) + `","channel":"c","payload":{}}`, "room is 129 characters long"},
		{"empty room", `{"type":"message","room":"","channel":"c","payload":{}}`, "room must not be empty"},
		{"bad timestamp", `{"type":"command","command":"ping","timestamp":"yesterday"}`, "not an RFC 3339 time"},
		{"depth bomb", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "nesting deeper than 32"},
		{"nested depth bomb in payload", `{"type":"message","room":"r","channel":"c","payload":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat("}", 40) + `}`, "nesting deeper than 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems := decodeProblems(t, tc.frame)
			assert.Contains(t, strings.Join(problems, "\n"), tc.problem)
			for _, p := range problems {
				assert.NotContains(t, p, "json:", "no Go internals")
				assert.NotContains(t, p, "Go value")
			}
		})
	}
}

func TestDecodeReportsEveryProblemAtOnce(t *testing.T) {
	problems := decodeProblems(t, `{"type":"message","id":"a b","room":7,"payload":[],"x":1,"y":2}`)
	assert.GreaterOrEqual(t, len(problems), 5, "%q", problems)
}

func TestDecodeCapsTheProblemListForHugeObjects(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"command","command":"ping"`)
	for i := 0; i < 100000; i++ {
		b.WriteString(`,"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`":1`)
	}
	b.WriteString("}")
	problems := decodeProblems(t, b.String())
	assert.LessOrEqual(t, len(problems), maxProblems)
	assert.Equal(t, "more problems not shown", problems[len(problems)-1])
}

func TestDecodeAcceptsDocumentedShapes(t *testing.T) {
	t.Run("ids like arq_msg_001 are accepted", func(t *testing.T) {
		env, err := Decode([]byte(`{"id":"arq_msg_001","type":"command","command":"ping"}`), DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, "arq_msg_001", env.ID)
	})
	t.Run("event is an alias of message", func(t *testing.T) {
		env, err := Decode([]byte(`{"type":"event","room":"r","channel":"c","payload":{}}`), DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, TypeMessage, env.Type)
	})
	t.Run("version defaults to 1.0", func(t *testing.T) {
		env, err := Decode([]byte(`{"type":"command","command":"ping"}`), DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, "1.0", env.Version)
	})
	t.Run("null fields count as absent", func(t *testing.T) {
		env, err := Decode([]byte(`{"type":"message","room":"r","channel":"c","payload":{},"to_client":null,"metadata":null,"id":null}`), DefaultLimits)
		require.NoError(t, err)
		assert.Empty(t, env.ToClient)
		assert.Nil(t, env.Metadata)
	})
	t.Run("the legacy command shape is read as command and args", func(t *testing.T) {
		env, err := Decode([]byte(`{"type":"command","payload":{"command":"status","parameters":{"verbose":true}}}`), DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, "status", env.Command)
		assert.JSONEq(t, `{"verbose":true}`, string(env.Args))
	})
	t.Run("a direct message needs no room", func(t *testing.T) {
		_, err := Decode([]byte(`{"type":"message","to_client":"x","payload":{}}`), DefaultLimits)
		require.NoError(t, err)
	})
	t.Run("room names may hold colons", func(t *testing.T) {
		env, err := Decode([]byte(`{"type":"message","room":"a:b","channel":"c","payload":{}}`), DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, "a:b", env.Room)
	})
	t.Run("depth at the limit is accepted", func(t *testing.T) {
		frame := `{"type":"message","room":"r","channel":"c","payload":` + strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat("}", 31) + `}`
		_, err := Decode([]byte(frame), DefaultLimits)
		require.NoError(t, err)
	})
	t.Run("brackets inside strings do not count as depth", func(t *testing.T) {
		frame := `{"type":"message","room":"r","channel":"c","payload":{"s":"` + strings.Repeat("[{", 100) + `\"\\"}}`
		_, err := Decode([]byte(frame), DefaultLimits)
		require.NoError(t, err)
	})
}

func TestTimestampsAcceptZOffsetsAndNoOffset(t *testing.T) {
	want := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	for _, s := range []string{
		"2026-03-04T05:06:07.123456Z",
		"2026-03-04T07:06:07.123456+02:00",
		"2026-03-04T05:06:07.123456",
		"2026-03-04T05:06:07.123456789Z", // nanoseconds truncate to microseconds
	} {
		got, err := ParseTimestamp(s)
		require.NoError(t, err, s)
		assert.True(t, want.Equal(got), "%s → %s", s, got)
		assert.Equal(t, "2026-03-04T05:06:07.123456Z", FormatTimestamp(got))
	}
}

func TestGeneratedIDsHaveTheDocumentedShapeAndAreUnique(t *testing.T) {
	msgRe := regexp.MustCompile(`^arq_\d+_\d+_[0-9a-f]{6}$`)
	clientRe := regexp.MustCompile(`^arq_client_[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewMessageID()
		require.Regexp(t, msgRe, id)
		require.True(t, ValidID(id))
		require.False(t, seen[id])
		seen[id] = true
		require.Regexp(t, clientRe, NewClientID())
	}
}

func TestStampKeepsClientValuesAndFillsTheRest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 999, time.UTC)
	e := &Envelope{}
	Stamp(e, now)
	assert.NotEmpty(t, e.ID)
	assert.Equal(t, now.Truncate(time.Microsecond), e.Timestamp)
	e2 := &Envelope{ID: "mine", Timestamp: now.Add(-time.Hour)}
	Stamp(e2, now)
	assert.Equal(t, "mine", e2.ID)
	assert.Equal(t, now.Add(-time.Hour).Truncate(time.Microsecond), e2.Timestamp)
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\n\r\t", "\x00\x1f", "é✓😀", "bad\xffutf8", "<html>&"} {
		got := AppendString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), "%q → %s", s, got)
		want := strings.ToValidUTF8(s, "\ufffd")
		assert.Equal(t, want, back)
	}
}

func TestAsWireNeverLeaksInternalErrors(t *testing.T) {
	we := AsWire(os.ErrPermission)
	assert.Equal(t, CodeInternal, we.Code)
	assert.Equal(t, "internal error", we.Message)
	assert.Same(t, ErrorForTest, AsWire(ErrorForTest))
}

var ErrorForTest = NewError(CodeNotFound, "x")

// Encode sizes its buffer from the envelope, so a frame without escapes is
// built in one allocation and never reallocated. Every field of Envelope is
// set, each longer than all of encodedSize's slack, so a field that
// encodedSize forgets makes the frame outgrow the estimate.
func TestEncodeAllocatesOnceWithoutEscapes(t *testing.T) {
	long := strings.Repeat("x", 1000)
	env := &Envelope{}
	v := reflect.ValueOf(env).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Interface().(type) {
		case string:
			f.SetString(long)
		case json.RawMessage:
			f.Set(reflect.ValueOf(json.RawMessage(`{"k":"` + long + `"}`)))
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2026, 11, 27, 4, 0, 0, 123456000, time.UTC)))
		default:
			t.Fatalf("Envelope.%s has a type this test does not fill", v.Type().Field(i).Name)
		}
	}
	var out []byte
	allocs := testing.AllocsPerRun(100, func() { out = Encode(env) })
	assert.Equal(t, 1.0, allocs)
	assert.LessOrEqual(t, len(out), encodedSize(env))
	env.Sender = strings.Repeat("\x01", 50) // each byte becomes \u0001: the buffer grows, output is right
	assert.Equal(t, string(AppendEnvelope(nil, env)), string(Encode(env)))
}

// The ack every message gets is built on the stack: one allocation, the
// frame itself, and the same bytes as encoding MessageAck.
func TestEncodeMessageAckMatchesMessageAckInOneAllocation(t *testing.T) {
	now := time.Date(2026, 11, 27, 4, 0, 0, 123456789, time.UTC)
	for _, c := range []struct {
		n         int
		persisted bool
	}{{0, false}, {1000, true}, {math.MinInt, false}, {math.MaxInt, true}} {
		want := Encode(MessageAck("m-1", c.n, c.persisted, now))
		assert.Equal(t, string(want), string(EncodeMessageAck("m-1", c.n, c.persisted, now)))
	}
	allocs := testing.AllocsPerRun(100, func() { EncodeMessageAck("m-1", 1000, true, now) })
	assert.Equal(t, 1.0, allocs)
}
