package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// pipelineCounter counts the pipelines a client sends.
type pipelineCounter struct{ n atomic.Int64 }

func (p *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (p *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (p *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.n.Add(1)
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*pipelineCounter)(nil)

// pacedAppends appends n messages from n goroutines, one starting every gap,
// and returns how many pipelines carried them.
func pacedAppends(t *testing.T, linger time.Duration, n int, gap time.Duration) int64 {
	t.Helper()
	mr := miniredis.RunT(t)
	count := &pipelineCounter{}
	c := client(t, mr)
	c.AddHook(count)
	s := newStore(t, mr, Options{Client: c, BatchLinger: linger})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		wg.Go(func() { errs <- s.Append(context.Background(), key, storetest.Msg(key, i+1)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Count(context.Background(), key)
	require.NoError(t, err)
	require.EqualValues(t, n, got, "every append stored")
	return count.n.Load()
}

// Appends that come a millisecond apart mostly find the batcher idle and go
// one or two per pipeline; with a linger, a busy batch waits for the ones
// that follow. How many share a pipeline without a linger depends on how
// fast Redis answers (a loaded machine answers later, so more queue up), so
// the control only has to send more pipelines than the linger; the linger's
// own bound holds however slow Redis is, as slowness only gathers more.
func TestBatchLingerGathersBusyAppendsIntoFewerPipelines(t *testing.T) {
	const n = 30
	without := pacedAppends(t, 0, n, time.Millisecond)
	with := pacedAppends(t, 15*time.Millisecond, n, time.Millisecond)
	t.Logf("%d appends: %d pipelines without a linger, %d with 15ms", n, without, with)
	require.LessOrEqual(t, with, int64(n/3), "the linger gathers several appends per pipeline")
	require.Less(t, with, without, "control: without the linger, more pipelines")
}

// The linger is for busy stores only: an append to an idle store goes at once,
// however long the linger.
func TestBatchLingerLeavesAnIdleStoreAlone(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{BatchLinger: 5 * time.Second})
	for i := range 3 {
		before := s.answered.Load()
		began := time.Now()
		require.NoError(t, s.Append(context.Background(), key, storetest.Msg(key, i+1)))
		require.Less(t, time.Since(began), time.Second, "append %d waited for the linger", i)
		// Idle again: the batcher has recorded this batch's answer (on a
		// loaded machine that can come a while after the caller's reply)
		// and busyGap has passed since.
		require.Eventually(t, func() bool {
			at := s.answered.Load()
			return at != before && !s.busy()
		}, 5*time.Second, time.Millisecond, "the store to go idle after append %d", i)
	}
}

// Closing the store ends a linger at once, and the lingering batch is sent.
func TestCloseEndsALinger(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{BatchLinger: 5 * time.Second})
	require.NoError(t, s.Append(context.Background(), key, storetest.Msg(key, 1)))
	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), key, storetest.Msg(key, 2)) }() // busy: lingers
	require.Eventually(t, s.lingering.Load, 5*time.Second, time.Millisecond, "the second append lingers")
	began := time.Now()
	require.NoError(t, s.Close())
	require.Less(t, time.Since(began), time.Second, "Close did not wait out the linger")
	require.NoError(t, <-done, "the lingering batch was sent")
	entries, err := mr.Stream(keysFor(s.prefix, key).stream)
	require.NoError(t, err)
	require.Len(t, entries, 2)
}
