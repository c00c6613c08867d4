package ws

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A frame buffer at exactly the pooling bound still goes back to the pool.
func TestAFrameBufferAtThePoolingBoundIsPooled(t *testing.T) {
	b := make([]byte, 10, maxPooledFrame)
	putFrameBuffer(&b)
	assert.Empty(t, b, "reset before it goes back to the pool")
}
