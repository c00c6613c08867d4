package protocol_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// frameWithUnknownFields is a valid ping command plus n unknown fields, so
// Decode finds exactly n problems.
func frameWithUnknownFields(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"command","command":"ping"`)
	for i := range n {
		fmt.Fprintf(&b, `,"x%04d":1`, i)
	}
	b.WriteString("}")
	return []byte(b.String())
}

func decodeProblems(t *testing.T, frame []byte) []string {
	t.Helper()
	_, err := protocol.Decode(frame, protocol.DefaultLimits)
	require.Error(t, err)
	we := protocol.AsWire(err)
	require.Equal(t, protocol.CodeValidation, we.Code)
	return we.Problems
}

// TestTheProblemListIsCappedAtTwentyWithAMarker pins the cap at its edges:
// twenty problems are all shown; from twenty-one on, the twentieth slot says
// that more were left out, whether one or many were.
func TestTheProblemListIsCappedAtTwentyWithAMarker(t *testing.T) {
	for _, c := range []struct {
		name     string
		problems int
		marker   bool
	}{
		{"twenty problems are all shown", 20, false},
		{"twenty-one problems keep the marker", 21, true},
		{"twenty-two problems keep the marker", 22, true},
		{"a thousand problems keep the marker", 1000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := decodeProblems(t, frameWithUnknownFields(c.problems))
			require.Len(t, got, 20)
			assert.Equal(t, `unknown field "x0000"`, got[0])
			if c.marker {
				assert.Equal(t, `unknown field "x0018"`, got[18])
				assert.Equal(t, "more problems not shown", got[19])
			} else {
				assert.Equal(t, `unknown field "x0019"`, got[19])
			}
		})
	}
}
