package ws

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// A batch buffer up to the pooling bound serves the next batch; a larger
// one is left to the garbage collector. (sync.Pool may drop what it is
// given, so reuse is looked for over a few rounds.)
func TestBatchBuffersUpToThePoolingBoundAreReused(t *testing.T) {
	s := NewServer(testOptions(nil))
	c := s.newConn(&discardConn{}, nil, nil, auth.Identity{Role: auth.RoleUser})
	t.Run("a buffer at the bound goes back after its write", func(t *testing.T) {
		reused := false
		for range 50 {
			buf := make([]byte, 0, maxPooledBatch)
			bp := &buf
			batchPool.Put(bp)
			require.NoError(t, c.writeBatch(nil, [][]byte{[]byte("{}")}))
			if got := batchPool.Get().(*[]byte); got == bp {
				assert.Empty(t, *got)
				reused = true
				break
			}
		}
		assert.True(t, reused, "a buffer at the bound was never reused")
	})
	t.Run("a larger buffer never goes back", func(t *testing.T) {
		huge := [][]byte{make([]byte, maxPooledBatch)}
		for range 20 {
			require.NoError(t, c.writeBatch(nil, huge))
			assert.LessOrEqual(t, cap(*batchPool.Get().(*[]byte)), maxPooledBatch)
		}
	})
}
