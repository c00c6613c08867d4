package ws

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The queue keeps the consumer's previous batch array for the next frames
// when it holds up to maxSpareFrames frames; a larger one is let go.
func TestTheQueueKeepsASpareBatchArrayUpToTheBound(t *testing.T) {
	for _, c := range []struct {
		name     string
		spareCap int
		wantCap  int
	}{
		{"a small array is kept", 8, 8},
		{"an array at the bound is kept", maxSpareFrames, maxSpareFrames},
		{"an array beyond the bound is let go", maxSpareFrames + 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := newSendQueue(1<<20, func() {})
			require.NoError(t, q.push([]byte("frame")))
			b := q.pop(make([][]byte, 0, c.spareCap))
			require.Len(t, b.frames, 1)
			assert.Equal(t, c.wantCap, cap(q.frames))
		})
	}
}
