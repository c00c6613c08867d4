package redisq_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestRedisQueueOnMiniredisMeetsTheContract runs the suite with time moved
// by hand: miniredis measures the idle time of pending entries (what
// XAUTOCLAIM and XPENDING see) on SetTime's clock and expires keys on
// FastForward, so Advance moves both, and the dead letters' clock with them.
func TestRedisQueueOnMiniredisMeetsTheContract(t *testing.T) {
	taskqtest.Run(t, func(t *testing.T, lim taskq.Limits) taskqtest.Harness {
		mr := redistest.MiniRedis(t)
		clock := taskqtest.NewClock()
		mr.SetTime(clock.Now())
		c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		q, err := redisq.New(redisq.Options{Client: c, Limits: lim, Clock: clock.Now})
		require.NoError(t, err)
		return taskqtest.Harness{Queue: q, Advance: func(d time.Duration) {
			clock.Advance(d)
			mr.SetTime(clock.Now())
			mr.FastForward(d)
		}}
	})
}
