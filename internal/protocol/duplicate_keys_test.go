package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDuplicateFieldsAreRefusedByName: a known top-level field given twice
// would otherwise resolve last-wins, so a frame could read as one type to a
// proxy or logger and run as another here. Each duplicated field is named
// once in the VALIDATION_ERROR, on both decoding paths, however its names
// are spelt and whatever the values.
func TestDuplicateFieldsAreRefusedByName(t *testing.T) {
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70) // past the splitter's nesting bound
	cases := []struct {
		name, frame string
		lim         Limits
		want        []string
	}{
		{"a message that turns into a command", `{"type":"message","type":"command","command":"op.store.flush","room":"r","channel":"c","payload":{}}`, DefaultLimits,
			[]string{`duplicate field "type"`}},
		{"the same value twice", `{"type":"command","command":"ping","command":"ping"}`, DefaultLimits,
			[]string{`duplicate field "command"`}},
		{"a null and a value", `{"type":"command","command":null,"command":"ping"}`, DefaultLimits,
			[]string{`duplicate field "command"`}},
		{"a value and a null", `{"type":"command","command":"ping","command":null}`, DefaultLimits,
			[]string{`duplicate field "command"`, "command is required for type command"}},
		{"an escaped spelling of a plain name", `{"type":"command","command":"ping","\u0069d":"a","id":"b"}`, DefaultLimits,
			[]string{`duplicate field "id"`}},
		{"three of one and two of another", `{"room":"a","type":"message","room":"b","channel":"c","room":"d","payload":{},"payload":{}}`, DefaultLimits,
			[]string{`duplicate field "payload"`, `duplicate field "room"`}},
		{"a deep frame on the general path", `{"type":"message","room":"r","channel":"c","payload":{"a":` + deep + `},"room":"s"}`, Limits{MaxDepth: 100},
			[]string{`duplicate field "room"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.frame), tc.lim)
			var ve *Error
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, CodeValidation, ve.Code)
			assert.Equal(t, tc.want, ve.Problems)
			checkMatchesReference(t, []byte(tc.frame), tc.lim)
		})
	}

	// Controls: the same frames without the repeat decode, so the refusals
	// are about the repeat alone; an unknown name repeated is refused as
	// unknown, once.
	for _, frame := range []string{
		`{"type":"command","command":"ping","id":"b"}`,
		`{"type":"message","room":"r","channel":"c","payload":{"a":` + deep + `}}`,
	} {
		_, err := Decode([]byte(frame), Limits{MaxDepth: 100})
		assert.NoError(t, err, frame)
	}
	_, err := Decode([]byte(`{"type":"command","command":"ping","x":1,"x":2}`), DefaultLimits)
	var ve *Error
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, []string{`unknown field "x"`}, ve.Problems)
}

// TestDetectingDuplicatesAllocatesNothing: the bit set keeps the check off
// the allocation count of the typical message.
func TestDetectingDuplicatesAllocatesNothing(t *testing.T) {
	ms := []member{{key: []byte("type")}, {key: []byte("room")}, {key: []byte("x")}, {key: []byte("room")}}
	var dup fieldSet
	allocs := testing.AllocsPerRun(100, func() { dup = classify(ms) })
	assert.Zero(t, allocs)
	assert.True(t, dup.has(fieldRoom))
	assert.False(t, dup.has(fieldType))
}
