package ws

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// Control frames take the rate limiter's tokens: within the burst they are
// acted on; past it they are refused and counted, and one refusal more than
// the burst closes the connection with 4029.
func TestControlFramesOverTheBurstAreRefusedThenCloseTheConnection(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewServer(testOptions(func(o *Options) {
		o.RateLimit, o.RateBurst, o.RateLimitGrace = 10, 20, time.Hour
		o.Clock = func() time.Time { return now } // no token comes back
	}))
	c, peer := pipeConn(t, s)
	dropped := s.o.Metrics.MessagesDropped.WithLabelValues(metrics.DropControlFlood)

	for i := range 20 {
		ok, err := c.admitControl("ping")
		require.True(t, ok, "ping %d is within the burst", i)
		require.NoError(t, err)
	}
	for i := range 20 {
		ok, err := c.admitControl("ping")
		require.False(t, ok, "refused ping %d", i)
		require.NoError(t, err, "refused ping %d: not yet a flood", i)
	}
	assert.EqualValues(t, 20, testutil.ToFloat64(dropped), "each refused control frame is counted")

	ok, err := c.admitControl("pong")
	assert.False(t, ok)
	assert.ErrorIs(t, err, errControlFlood, "one refusal more than the burst is a flood")
	assert.Equal(t, closeRateLimited, readFrameFrom(t, peer).closeCode())
}

// A small burst still leaves room for a keepalive: at least minControlFlood
// control frames are refused before a close.
func TestASmallBurstStillToleratesMinControlFloodRefusals(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewServer(testOptions(func(o *Options) {
		o.RateLimit, o.RateBurst, o.RateLimitGrace = 1, 1, time.Hour
		o.Clock = func() time.Time { return now }
	}))
	c, _ := pipeConn(t, s)
	ok, err := c.admitControl("ping")
	require.True(t, ok)
	require.NoError(t, err)
	for i := range minControlFlood {
		_, err := c.admitControl("ping")
		require.NoError(t, err, "refusal %d", i)
	}
	_, err = c.admitControl("ping")
	assert.ErrorIs(t, err, errControlFlood)
}
