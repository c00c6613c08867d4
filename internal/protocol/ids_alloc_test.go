package protocol

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNewMessageIDSizesItsBufferForTheLongestID: every message gets an id,
// so building one costs the buffer and the string and nothing else, even
// when the counter has its full twenty digits.
func TestNewMessageIDSizesItsBufferForTheLongestID(t *testing.T) {
	saved := idCounter.Load()
	t.Cleanup(func() { idCounter.Store(saved) })
	idCounter.Store(math.MaxUint64 - 1000)
	var id string
	allocs := testing.AllocsPerRun(100, func() { id = NewMessageID() })
	assert.Equal(t, 2.0, allocs)
	assert.Len(t, id, len("arq_")+len(processStart)+len("_")+20+len("_")+6)
}
