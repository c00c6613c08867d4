package adversarial

import (
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §1: malformed JSON and non-object frames are VALIDATION_ERROR with a
// list of problems and no internal details; the connection stays open.
func TestMalformedAndNonObjectFramesAreValidationErrorsAndTheConnectionStays(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	cases := []struct{ name, frame string }{
		{"an unterminated object", `{"type":"command"`},
		{"plain text", `hello`},
		{"trailing garbage", `{"type":"command","command":"ping"} x`},
		{"two objects in one frame", `{}{}`},
		{"single quotes", `{'type':'command'}`},
		{"a trailing comma", `{"type":"command","command":"ping",}`},
		{"a comment", `{/* hi */"type":"command","command":"ping"}`},
		{"NaN", `{"type":"command","command":"ping","args":{"x":NaN}}`},
		{"a bad escape", `{"type":"\x"}`},
		{"a raw NUL in a string", "{\"type\":\"comm\x00and\"}"},
		{"a raw newline in a string", "{\"type\":\"comm\nand\"}"},
		{"a byte order mark", "\ufeff{\"type\":\"command\",\"command\":\"ping\"}"},
		{"an empty frame", ``},
		{"only whitespace", " \t\r\n "},
		{"an empty array", `[]`},
		{"an array holding a valid envelope", `[{"type":"command","command":"ping"}]`},
		{"an integer", `42`},
		{"a negative float", `-1.5e3`},
		{"a number too big for a float", `1e999`},
		{"a string", `"hello"`},
		{"null", `null`},
		{"true", `true`},
		{"false", `false`},
		{"a bare key", `{"type"}`},
		{"a non-string key", `{1:"command"}`},
	}
	for _, tc := range cases {
		sendText(t, c, tc.frame)
		got := expectCode(t, c, protocol.CodeValidation, tc.name)
		assert.NotEmpty(t, problems(t, got), "%s: the reply lists its problems", tc.name)
		assertNoInternals(t, got, tc.name)
	}
	testutil.ExpectNone(t, c, 50*time.Millisecond)
	assertStillOpen(t, c)
	by.stillServed(t)
}

// invalidUTF8 are byte sequences that are not UTF-8 (RFC 3629).
var invalidUTF8 = []struct{ name, bytes string }{
	{"a stray continuation byte", "\x80"},
	{"an 0xFF byte", "\xff"},
	{"an overlong slash", "\xc0\xaf"},
	{"an encoded surrogate", "\xed\xa0\x80"},
	{"a code point above U+10FFFF", "\xf4\x90\x80\x80"},
	{"a truncated euro sign", "\xe2\x82"},
}

// SPEC §1/§2: a text frame that is not valid UTF-8 fails the connection with
// 1007, wherever the bad bytes sit.
func TestInvalidUTF8InATextFrameClosesWith1007(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)
	for _, tc := range invalidUTF8 {
		for _, where := range []string{"inside a string", "outside any string"} {
			frame := `{"type":"command","command":"ping","args":{"k":"` + tc.bytes + `"}}`
			if where == "outside any string" {
				frame = tc.bytes + `{"type":"command","command":"ping"}`
			}
			require.False(t, utf8.ValidString(frame))
			c := testutil.Dial(t, s)
			require.NoError(t, c.SendRaw(websocket.TextMessage, []byte(frame)))
			assert.Equal(t, protocol.CloseInvalidPayload, testutil.ExpectClose(t, c, closeWait), "%s %s", tc.name, where)
		}
	}
	by.stillServed(t)
}

// SPEC §1: invalid UTF-8 inside a binary frame's JSON is a VALIDATION_ERROR
// and the connection stays.
func TestInvalidUTF8InABinaryFrameIsAValidationErrorAndTheConnectionStays(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	for _, tc := range invalidUTF8 {
		frame := `{"type":"command","command":"ping","id":"bin-1","args":{"k":"` + tc.bytes + `"}}`
		require.NoError(t, c.SendRaw(websocket.BinaryMessage, []byte(frame)))
		got := expectCode(t, c, protocol.CodeValidation, tc.name)
		assertNoInternals(t, got, tc.name)
		assert.True(t, utf8.ValidString(string(protocol.Encode(got))), "%s: the reply itself is valid UTF-8", tc.name)
	}
	assertStillOpen(t, c)
	by.stillServed(t)
}

// Random bytes in binary frames are answered, one VALIDATION_ERROR each, and
// never crash or close the connection.
func TestBinaryGarbageGetsOneValidationErrorPerFrame(t *testing.T) {
	s := start(t, tolerant)
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 64 {
		garbage := make([]byte, 1+rng.IntN(4096))
		for j := range garbage {
			garbage[j] = byte(rng.UintN(256))
		}
		require.NoError(t, c.SendRaw(websocket.BinaryMessage, garbage))
		got := expectCode(t, c, protocol.CodeValidation, "garbage frame")
		assertNoInternals(t, got, "garbage frame")
		if t.Failed() {
			t.Fatalf("garbage frame %d: %q", i, garbage)
		}
	}
	assertStillOpen(t, c)
	by.stillServed(t)
}
