package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// slowFailure is a primary whose writes take `took` of the policy's clock
// before they fail, like a write that times out while Redis is away.
type slowFailure struct {
	*flaky
	clock *fakeClock
	took  time.Duration
}

func (s *slowFailure) Append(ctx context.Context, k store.Key, env *protocol.Envelope) error {
	if s.down.Load() {
		s.clock.Set(s.clock.Now().Add(s.took))
	}
	return s.flaky.Append(ctx, k, env)
}

// degradedPolicy starts a policy in the default mode (degraded) over primary
// with a memory fallback, probing every few milliseconds after a failure and
// never while the primary is healthy, so only the test's calls find failures.
func degradedPolicy(t *testing.T, primary store.Store, clock *fakeClock) (*store.Policy, *memstore.Store, *metrics.Metrics) {
	t.Helper()
	fallback := memstore.New(1000)
	m := metrics.New(prometheus.NewRegistry())
	p := store.NewPolicy(store.PolicyOptions{
		Primary: primary, Fallback: fallback, Metrics: m,
		Logger:        slog.New(slog.DiscardHandler),
		ProbeInterval: time.Millisecond, MaxProbeInterval: 4 * time.Millisecond,
		HealthInterval: time.Hour, Clock: clock.Now,
	})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	return p, fallback, m
}

// TestADegradedCountFallsBackToTheFallbacksCount: in degraded mode a count
// that finds the primary down answers from the fallback (and turns the state
// degraded) instead of failing, both before any degraded period and after
// one, when it adds the two stores while the primary answers.
func TestADegradedCountFallsBackToTheFallbacksCount(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: storetest.Base}
	primary := newFlaky()
	p, _, m := degradedPolicy(t, primary, clock)
	fellBack := func() float64 {
		return testutil.ToFloat64(m.StorageOperations.WithLabelValues("count", "fallback"))
	}
	for i := range 3 {
		require.NoError(t, p.Append(ctx, key, storetest.Msg(key, i)))
	}

	primary.down.Store(true)
	n, err := p.Count(ctx, key)
	require.NoError(t, err, "degraded mode answers what it has")
	assert.Zero(t, n, "the fallback is still empty")
	assert.Equal(t, store.StateDegraded, p.Health().State)
	assert.Equal(t, 1.0, fellBack())

	require.NoError(t, p.Append(ctx, key, storetest.Msg(key, 3)))
	n, err = p.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "while the primary is away: the fallback's count alone")

	primary.down.Store(false)
	eventually(t, func() bool { return p.Health().State == store.StateOK }, "recovery")
	n, err = p.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(4), n, "both stores once the primary is back")

	primary.down.Store(true)
	n, err = p.Count(ctx, key)
	require.NoError(t, err, "a primary failing again falls back again")
	assert.Equal(t, int64(1), n)
	assert.Equal(t, store.StateDegraded, p.Health().State)
	assert.Equal(t, 3.0, fellBack())
}

// TestADegradedPeriodStartsWhenTheFailingWriteBegan: a write that began at T
// and failed at T+10s (a timeout) went to the fallback stamped T, so the
// degraded period starts at T, not when the failure was noticed: history
// whose range ends at T+5s must not claim to be complete.
func TestADegradedPeriodStartsWhenTheFailingWriteBegan(t *testing.T) {
	ctx := context.Background()
	began := storetest.Base.Add(time.Hour)
	clock := &fakeClock{now: storetest.Base}
	primary := &slowFailure{flaky: newFlaky(), clock: clock, took: 10 * time.Second}
	p, fallback, _ := degradedPolicy(t, primary, clock)
	for i := range 3 {
		require.NoError(t, p.Append(ctx, key, storetest.Msg(key, i)))
	}

	clock.Set(began)
	primary.down.Store(true)
	late := storetest.Msg(key, 3)
	late.Timestamp = began
	require.NoError(t, p.Append(ctx, key, late))
	require.Equal(t, began.Add(10*time.Second), clock.Now(), "the failure was noticed ten seconds in")
	n, err := fallback.Count(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the write went to the fallback")

	clock.Set(began.Add(20 * time.Second))
	primary.down.Store(false)
	eventually(t, func() bool { return p.Health().State == store.StateOK }, "recovery")

	page, err := p.History(ctx, key, store.Query{Limit: 50, BeforeTime: began.Add(5 * time.Second)})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00000", "m00001", "m00002", "m00003"}, storetest.IDs(page.Messages))
	assert.False(t, page.Complete, "the range meets the period that began with the failing write")

	page, err = p.History(ctx, key, store.Query{Limit: 50, BeforeTime: began.Add(-time.Minute)})
	require.NoError(t, err)
	assert.True(t, page.Complete, "a range that ends before the write began is complete")
}
