package ws

import (
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// A connection gets a rate limiter with the configured rate and burst when
// RateLimit is on, and none when it is 0.
func TestAConnectionIsRateLimitedOnlyWhenARateIsSet(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		s := NewServer(testOptions(func(o *Options) { o.RateLimit, o.RateBurst = 0, 0 }))
		c, _ := pipeConn(t, s)
		assert.Nil(t, c.limiter)
	})
	t.Run("on", func(t *testing.T) {
		s := NewServer(testOptions(func(o *Options) { o.RateLimit, o.RateBurst = 7, 3 }))
		c, _ := pipeConn(t, s)
		require.NotNil(t, c.limiter)
		assert.Equal(t, rate.Limit(7), c.limiter.Limit())
		assert.Equal(t, 3, c.limiter.Burst())
	})
}

// A frame refused because the connection is closing is not a slow consumer:
// only an overflow counts as one.
func TestAFrameRefusedAfterCloseIsNotASlowConsumer(t *testing.T) {
	s := NewServer(testOptions(nil))
	c, _ := pipeConn(t, s)
	c.closeWith(0, "")
	assert.False(t, c.Send([]byte("{}")))
	assert.False(t, c.sendReply([]byte("{}")))
	assert.Zero(t, promtest.ToFloat64(s.o.Metrics.SlowConsumerDisconnects))
}
