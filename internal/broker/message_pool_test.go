package broker

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Message buffers up to the pooling bound are reused by later publishes; a
// larger one is left to the garbage collector. (sync.Pool may drop what it
// is given, so reuse is looked for over a few rounds.)
func TestMessageBuffersUpToThePoolingBoundAreReused(t *testing.T) {
	t.Run("a buffer at the bound comes back, emptied", func(t *testing.T) {
		reused := false
		for range 50 {
			b := make([]byte, 10, maxPooledMessage)
			batch := [][]byte{b}
			putMessageBufs(batch)
			assert.Nil(t, batch[0], "the batch lets go of its buffers")
			if got := getMessageBuf(); cap(got) == maxPooledMessage {
				assert.Empty(t, got)
				reused = true
				break
			}
		}
		assert.True(t, reused, "a buffer at the bound was never handed out again")
	})
	t.Run("a larger buffer never comes back", func(t *testing.T) {
		for range 50 {
			batch := [][]byte{make([]byte, 10, maxPooledMessage+1)}
			putMessageBufs(batch)
			assert.Nil(t, batch[0], "the batch lets go of its buffers")
			assert.LessOrEqual(t, cap(getMessageBuf()), maxPooledMessage)
		}
	})
}
