package ws

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// A batch of control frames alone (a pong with no data queued) is written;
// only a batch with nothing in it skips the socket.
func TestABatchOfControlFramesAloneIsWritten(t *testing.T) {
	s := NewServer(testOptions(nil))
	nc := &discardConn{}
	c := s.newConn(nc, nil, nil, auth.Identity{Role: auth.RoleUser})
	require.NoError(t, c.writeBatch(pingFrame, nil))
	assert.Equal(t, int64(1), nc.writes.Load())
	assert.Equal(t, int64(len(pingFrame)), nc.bytes.Load())
	require.NoError(t, c.writeBatch(nil, nil))
	assert.Equal(t, int64(1), nc.writes.Load(), "an empty batch writes nothing")
}
