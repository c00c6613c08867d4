package ws

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadFrameReadsWholeFramesUpToTheLimit(t *testing.T) {
	const limit = 2000
	buf := new([]byte)
	for _, n := range []int{0, 1, 511, 512, 513, 1024, 1999, 2000} {
		frame := bytes.Repeat([]byte{'x'}, n)
		// One byte per Read: the buffer grows across many short reads.
		got, err := readFrame(iotest.OneByteReader(bytes.NewReader(frame)), limit, buf)
		require.NoError(t, err, "n=%d", n)
		assert.Equal(t, frame, got, "n=%d", n)
	}
	assert.GreaterOrEqual(t, cap(*buf), limit, "the grown buffer is kept for the next frame")
}

func TestReadFrameStopsOneByteBeyondTheLimit(t *testing.T) {
	const limit = 1024
	r := &countingReader{r: strings.NewReader(strings.Repeat("y", 1<<20))}
	_, err := readFrame(r, limit, new([]byte))
	assert.ErrorIs(t, err, errTooBig)
	assert.Equal(t, int64(limit+1), r.n, "a huge frame is not read past limit+1 bytes")
}

func TestReadFrameReportsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := readFrame(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 100, new([]byte))
	assert.ErrorIs(t, err, boom)
}

func TestFrameBuffersOfHugeFramesAreNotPooled(t *testing.T) {
	b := make([]byte, 10, maxPooledFrame+1)
	putFrameBuffer(&b)
	assert.Len(t, b, 10, "left alone: not reset and put back")
	small := make([]byte, 10, 1024)
	putFrameBuffer(&small)
	assert.Empty(t, small, "reset before it goes back to the pool")
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
