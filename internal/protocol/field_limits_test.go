package protocol_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// TestFieldLengthLimitsAreInclusive: every limit of SPEC §1 is the longest
// value accepted, counted in characters, not bytes.
func TestFieldLengthLimitsAreInclusive(t *testing.T) {
	command := func(cmd string) []byte { return []byte(`{"type":"command","command":"` + cmd + `"}`) }
	room := func(r string) []byte {
		return []byte(`{"type":"message","room":"` + r + `","channel":"c","payload":{}}`)
	}
	for _, c := range []struct {
		name    string
		frame   []byte
		problem string // "" when the frame is accepted
	}{
		{"a command of 128 characters", command(strings.Repeat("é", 128)), ""},
		{"a command of 129 characters", command(strings.Repeat("é", 129)), "command is 129 characters long, at most 128 allowed"},
		{"a room of 128 characters", room(strings.Repeat("é", 128)), ""},
		{"a room of 129 characters", room(strings.Repeat("é", 129)), "room is 129 characters long, at most 128 allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := protocol.Decode(c.frame, protocol.DefaultLimits)
			if c.problem == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, []string{c.problem}, protocol.AsWire(err).Problems)
		})
	}

	assert.True(t, protocol.ValidID(strings.Repeat("a", 128)), "an id of 128 characters")
	assert.False(t, protocol.ValidID(strings.Repeat("a", 129)), "an id of 129 characters")
	assert.False(t, protocol.ValidID(""), "an empty id")
	assert.Empty(t, protocol.CheckName(strings.Repeat("é", 128)), "a name of 128 characters")
	assert.Equal(t, "is 129 characters long, at most 128 allowed", protocol.CheckName(strings.Repeat("é", 129)))
}

// TestClipKeepsSixtyFourBytesAndCutsOnARuneBoundary: echoed input is kept
// whole up to 64 bytes; longer input is cut to at most 64 bytes without
// splitting a character, and marked with an ellipsis.
func TestClipKeepsSixtyFourBytesAndCutsOnARuneBoundary(t *testing.T) {
	exact := strings.Repeat("a", 64)
	assert.Equal(t, exact, protocol.Clip(exact))
	assert.Equal(t, exact+"…", protocol.Clip(exact+"b"))

	straddling := strings.Repeat("a", 63) + "é" + "tail" // é takes bytes 64 and 65
	got := protocol.Clip(straddling)
	assert.Equal(t, strings.Repeat("a", 63)+"…", got)
	assert.True(t, utf8.ValidString(got))
	assert.Equal(t, "short?", protocol.Clip("short\xff"), "invalid UTF-8 in short input is replaced")
}

func TestErrorTextNamesTheProblemsOnlyWhenThereAreSome(t *testing.T) {
	assert.Equal(t, "NOT_FOUND: no such client", protocol.NewError(protocol.CodeNotFound, "no such client").Error())
	assert.Equal(t, "VALIDATION_ERROR: invalid envelope: room must not be empty; payload is required",
		protocol.ValidationError("room must not be empty", "payload is required").Error())
}

// TestAppendStringNeverWritesInvalidUTF8: a WebSocket text frame must be
// valid UTF-8, so every byte that does not start a valid character becomes
// the escape \ufffd, while a literal U+FFFD in the input passes through.
func TestAppendStringNeverWritesInvalidUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"\x80", `"\ufffd"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xc3", `"\ufffd"`},
		{"ok\ufffd", "\"ok\ufffd\""},
		{"é✓", `"é✓"`},
	} {
		got := string(protocol.AppendString(nil, c.in))
		assert.Equal(t, c.want, got, "%q", c.in)
		assert.True(t, utf8.ValidString(got), "%q", c.in)
	}
}
