package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

var key = store.Key{Tenant: "acme", Room: "science", Channel: "explore"}

type fixture struct {
	p        *store.Policy
	primary  *flaky
	fallback *memstore.Store
	m        *metrics.Metrics
	logs     *logRecorder
	clock    *fakeClock
}

// newFixture starts a policy over a flaky primary (down from the start when
// startDown) and a memory fallback, probing every few milliseconds.
func newFixture(t *testing.T, mode string, startDown bool) *fixture {
	t.Helper()
	f := &fixture{
		primary:  newFlaky(),
		fallback: memstore.New(1000),
		m:        metrics.New(prometheus.NewRegistry()),
		logs:     &logRecorder{},
		clock:    &fakeClock{now: storetest.Base},
	}
	f.primary.down.Store(startDown)
	f.p = store.NewPolicy(store.PolicyOptions{
		Mode: mode, Backend: config.BackendRedis,
		Primary: f.primary, Fallback: f.fallback,
		Logger: slog.New(f.logs), Metrics: f.m,
		ProbeInterval: time.Millisecond, MaxProbeInterval: 4 * time.Millisecond,
		Clock: f.clock.Now,
	})
	t.Cleanup(func() { _ = f.p.Close() })
	require.NoError(t, f.p.Start(context.Background()))
	return f
}

func (f *fixture) ops(op, result string) float64 {
	return testutil.ToFloat64(f.m.StorageOperations.WithLabelValues(op, result))
}

func (f *fixture) state() string { return f.p.Health().State }

// msgAt is message i stamped i minutes after the clock's start.
func msgAt(i int) *protocol.Envelope {
	m := storetest.Msg(key, i)
	m.Timestamp = storetest.Base.Add(time.Duration(i) * time.Minute)
	return m
}

func TestStrictFailureIsReturnedAndGoesDownAtOnce(t *testing.T) {
	f := newFixture(t, config.ModeStrict, false)
	ctx := context.Background()
	require.NoError(t, f.p.Append(ctx, key, msgAt(0)))
	assert.Equal(t, store.Health{Backend: "redis", Mode: "strict", State: "ok"}, f.p.Health())

	f.primary.down.Store(true)
	err := f.p.Append(ctx, key, msgAt(1))
	require.ErrorIs(t, err, store.ErrUnavailable)
	h := f.p.Health()
	assert.Equal(t, store.StateDown, h.State, "down with the first failure, not after a probe")
	assert.False(t, h.Usable())
	assert.False(t, h.Degraded)
	assert.Equal(t, "connection refused", h.LastError, "a short reason, no address")
	_, err = f.p.History(ctx, key, store.Query{Limit: 5})
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, err = f.p.Count(ctx, key)
	assert.ErrorIs(t, err, store.ErrUnavailable)
	n, _ := f.fallback.Count(ctx, key)
	assert.Zero(t, n, "strict never writes to the fallback")

	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "the probe to find the primary back")
	require.NoError(t, f.p.Append(ctx, key, msgAt(2)))
	assert.Equal(t, []string{"ok->down", "down->ok"}, f.logs.warnings())
	assert.Equal(t, 2.0, f.ops("append", "ok"))
	assert.Equal(t, 1.0, f.ops("append", "error"))
	assert.Equal(t, 1.0, f.ops("history", "error"))
	assert.Equal(t, 1.0, f.ops("count", "error"))
	assert.Zero(t, testutil.ToFloat64(f.m.StorageDegraded), "strict mode never reads degraded")
	assert.Equal(t, "connection refused", f.p.Health().LastError, "the last failure stays visible")
}

func TestStrictStartsDownWhenThePrimaryDoesNotAnswer(t *testing.T) {
	f := newFixture(t, config.ModeStrict, true)
	assert.Equal(t, store.StateDown, f.state())
	assert.ErrorIs(t, f.p.Append(context.Background(), key, msgAt(0)), store.ErrUnavailable)
	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	assert.Equal(t, []string{"ok->down", "down->ok"}, f.logs.warnings())
}

func TestAFailingCallerIsNotABackendFailure(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, false)
	canceled := error(context.Canceled)
	f.primary.err.Store(&canceled)
	f.primary.down.Store(true)
	err := f.p.Append(context.Background(), key, msgAt(0))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, store.StateOK, f.state())
	assert.Equal(t, 1.0, f.ops("append", "error"))
	assert.Empty(t, f.logs.warnings())
}

func TestDegradedStartsOnTheFallbackWhenThePrimaryIsDown(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, true)
	ctx := context.Background()
	h := f.p.Health()
	assert.Equal(t, store.StateDegraded, h.State)
	assert.True(t, h.Degraded)
	assert.True(t, h.Usable(), "degraded still takes writes")
	assert.Equal(t, 1.0, testutil.ToFloat64(f.m.StorageDegraded))

	require.NoError(t, f.p.Append(ctx, key, msgAt(0)))
	assert.Zero(t, f.primary.appends.Load(), "no write waits on a primary known to be away")
	assert.Equal(t, 1.0, testutil.ToFloat64(f.m.StorageFallbackWrites))
	assert.Equal(t, 1.0, f.ops("append", "fallback"))
	p, err := f.p.History(ctx, key, store.Query{Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00000"}, storetest.IDs(p.Messages))
	assert.False(t, p.Complete, "the primary could not be read")
	assert.Equal(t, 1.0, f.ops("history", "fallback"))
	n, err := f.p.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	assert.Zero(t, testutil.ToFloat64(f.m.StorageDegraded))
	// The state turns ok before its WARN line is written (outside the lock).
	eventually(t, func() bool { return len(f.logs.warnings()) == 2 }, "the recovery's WARN line")
	assert.Equal(t, []string{"ok->degraded", "degraded->ok"}, f.logs.warnings())
}

func TestDegradedFailsOverOnceUnderConcurrentWrites(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, false)
	ctx := context.Background()
	require.NoError(t, f.p.Append(ctx, key, msgAt(0)))
	f.primary.down.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 1; i <= 20; i++ {
		wg.Go(func() { errs <- f.p.Append(ctx, key, msgAt(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "degraded mode keeps taking writes")
	}
	assert.Equal(t, store.StateDegraded, f.state())
	assert.Equal(t, 20.0, testutil.ToFloat64(f.m.StorageFallbackWrites))
	assert.Equal(t, 20.0, f.ops("append", "fallback"))
	assert.Equal(t, 1.0, f.ops("append", "ok"))
	assert.Equal(t, 1.0, testutil.ToFloat64(f.m.StorageDegraded))
	assert.Equal(t, []string{"ok->degraded"}, f.logs.warnings(), "one WARN per change")
	eventually(t, func() bool { return f.ops("ping", "error") > 0 }, "a failed probe")

	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	// The state turns ok before its WARN line is written (outside the lock).
	eventually(t, func() bool { return len(f.logs.warnings()) == 2 }, "the recovery's WARN line")
	assert.Equal(t, []string{"ok->degraded", "degraded->ok"}, f.logs.warnings())
	assert.Zero(t, testutil.ToFloat64(f.m.StorageDegraded))
	assert.Positive(t, f.ops("ping", "ok"), "probes count as ping operations")
}

// TestHistoryAcrossADegradedPeriod writes m0–m2 to the primary, m3–m4 to the
// fallback during a degraded period [3 min, 4.5 min], then m5–m6 to the
// primary again; message i is stamped i minutes in.
func TestHistoryAcrossADegradedPeriod(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, false)
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, f.p.Append(ctx, key, msgAt(i)))
	}
	f.clock.Set(msgAt(3).Timestamp)
	f.primary.down.Store(true)
	require.NoError(t, f.p.Append(ctx, key, msgAt(3)))
	require.NoError(t, f.p.Append(ctx, key, msgAt(4)))

	p, err := f.p.History(ctx, key, store.Query{Limit: 50})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00003", "m00004"}, storetest.IDs(p.Messages), "while degraded: the fallback only")
	assert.False(t, p.Complete)

	f.clock.Set(msgAt(4).Timestamp.Add(30 * time.Second))
	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	for i := 5; i < 7; i++ {
		require.NoError(t, f.p.Append(ctx, key, msgAt(i)))
	}
	ts := func(i int) time.Time { return msgAt(i).Timestamp }

	for _, c := range []struct {
		name     string
		q        store.Query
		want     []string
		complete bool
	}{
		{"everything merges oldest first", store.Query{Limit: 50},
			[]string{"m00000", "m00001", "m00002", "m00003", "m00004", "m00005", "m00006"}, false},
		{"newest two lie after the period", store.Query{Limit: 2},
			[]string{"m00005", "m00006"}, true},
		{"newest three reach into it", store.Query{Limit: 3},
			[]string{"m00004", "m00005", "m00006"}, false},
		{"since a primary id after the period", store.Query{Limit: 50, SinceID: "m00005"},
			[]string{"m00006"}, true},
		{"since a primary id before the period", store.Query{Limit: 50, SinceID: "m00001"},
			[]string{"m00002", "m00003", "m00004", "m00005", "m00006"}, false},
		{"since a fallback id", store.Query{Limit: 50, SinceID: "m00003"},
			[]string{"m00004", "m00005", "m00006"}, false},
		{"before a fallback id", store.Query{Limit: 50, BeforeID: "m00004"},
			[]string{"m00000", "m00001", "m00002", "m00003"}, false},
		{"between ids of both stores", store.Query{Limit: 50, SinceID: "m00001", BeforeID: "m00005"},
			[]string{"m00002", "m00003", "m00004"}, false},
		{"before the period by time", store.Query{Limit: 50, BeforeTime: ts(2).Add(30 * time.Second)},
			[]string{"m00000", "m00001", "m00002"}, true},
		{"after the period by time", store.Query{Limit: 50, SinceTime: ts(5).Add(-10 * time.Second)},
			[]string{"m00005", "m00006"}, true},
		{"an unknown since id", store.Query{Limit: 2, SinceID: "nope"},
			[]string{"m00005", "m00006"}, false},
		{"an unknown before id", store.Query{Limit: 2, BeforeID: "nope"},
			[]string{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := f.p.History(ctx, key, c.q)
			require.NoError(t, err)
			assert.Equal(t, c.want, storetest.IDs(p.Messages))
			assert.Equal(t, c.complete, p.Complete)
		})
	}
	n, err := f.p.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(7), n)
}

func TestAMessageInBothStoresIsShownOnce(t *testing.T) {
	// A write that timed out may have reached Redis and then the fallback.
	f := newFixture(t, config.ModeDegraded, false)
	ctx := context.Background()
	f.clock.Set(msgAt(1).Timestamp)
	f.primary.down.Store(true)
	require.NoError(t, f.p.Append(ctx, key, msgAt(1))) // to the fallback
	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	require.NoError(t, f.primary.Store.Append(ctx, key, msgAt(1))) // the late twin
	require.NoError(t, f.p.Append(ctx, key, msgAt(2)))
	p, err := f.p.History(ctx, key, store.Query{Limit: 50})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00001", "m00002"}, storetest.IDs(p.Messages))
}

func TestAFailedReadIsReturnedButLeavesStrictStorageOK(t *testing.T) {
	f := newFixture(t, config.ModeStrict, false)
	ctx := context.Background()
	require.NoError(t, f.p.Append(ctx, key, msgAt(0)))
	f.primary.readsDown.Store(true)
	_, err := f.p.History(ctx, key, store.Query{Limit: 5})
	require.ErrorIs(t, err, store.ErrUnavailable, "the reader learns its read failed")
	_, found, err := f.p.Locate(ctx, key, "m00000")
	require.NoError(t, err, "a locate the primary cannot answer is a miss")
	assert.False(t, found)
	assert.Equal(t, store.StateOK, f.state(), "one reader's failure is not everyone's outage")
	assert.True(t, f.p.Health().Usable())
	assert.Equal(t, 1.0, f.ops("history", "error"))

	require.NoError(t, f.p.Append(ctx, key, msgAt(1)), "writes still reach the primary")
	f.primary.down.Store(true)
	require.ErrorIs(t, f.p.Append(ctx, key, msgAt(2)), store.ErrUnavailable)
	assert.Equal(t, store.StateDown, f.state(), "a failed write still marks storage down")
	assert.Equal(t, []string{"ok->down"}, f.logs.warnings())
}

func TestAFailedReadAnswersFromTheFallbackButLeavesDegradedStorageOK(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, false)
	ctx := context.Background()
	require.NoError(t, f.p.Append(ctx, key, msgAt(0)))
	f.primary.readsDown.Store(true)
	p, err := f.p.History(ctx, key, store.Query{Limit: 5})
	require.NoError(t, err, "degraded mode answers what it has")
	assert.Empty(t, p.Messages, "the fallback holds nothing yet")
	assert.False(t, p.Complete, "the primary could not be read")
	assert.Equal(t, store.StateOK, f.state())
	assert.Equal(t, 1.0, f.ops("history", "fallback"))

	require.NoError(t, f.p.Append(ctx, key, msgAt(1)))
	assert.Equal(t, int64(2), f.primary.appends.Load(), "the write went to the primary, not the fallback")
	assert.Zero(t, testutil.ToFloat64(f.m.StorageFallbackWrites))
	assert.Zero(t, testutil.ToFloat64(f.m.StorageDegraded))
	assert.Empty(t, f.logs.warnings())

	f.primary.readsDown.Store(false)
	p, err = f.p.History(ctx, key, store.Query{Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00000", "m00001"}, storetest.IDs(p.Messages), "reads come back with the primary")
	assert.True(t, p.Complete)

	f.primary.down.Store(true)
	require.NoError(t, f.p.Append(ctx, key, msgAt(2)))
	assert.Equal(t, store.StateDegraded, f.state(), "a failed write still opens a degraded period")
}

func TestAFailedLookupOfABoundLeavesDegradedStorageOK(t *testing.T) {
	// After a degraded period the policy merges both stores and looks id
	// bounds up in each: the primary's lookup failing is a read too.
	f := newFixture(t, config.ModeDegraded, false)
	ctx := context.Background()
	require.NoError(t, f.p.Append(ctx, key, msgAt(0)))
	f.primary.down.Store(true)
	require.NoError(t, f.p.Append(ctx, key, msgAt(1)))
	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	eventually(t, func() bool { return len(f.logs.warnings()) == 2 }, "the recovery's WARN line")

	f.primary.readsDown.Store(true)
	p, err := f.p.History(ctx, key, store.Query{Limit: 5, BeforeID: "m00001"})
	require.NoError(t, err)
	assert.False(t, p.Complete)
	assert.Equal(t, store.StateOK, f.state())
	assert.Equal(t, []string{"ok->degraded", "degraded->ok"}, f.logs.warnings(), "no change after the read")
}

func TestAByteBudgetBoundsTheMergedPage(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, false)
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, f.p.Append(ctx, key, msgAt(i)))
	}
	f.primary.down.Store(true)
	for i := 3; i < 6; i++ {
		require.NoError(t, f.p.Append(ctx, key, msgAt(i)))
	}
	f.primary.down.Store(false)
	eventually(t, func() bool { return f.state() == store.StateOK }, "recovery")
	one := store.Size(msgAt(0))

	p, err := f.p.History(ctx, key, store.Query{Limit: 50, MaxBytes: 4 * one})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00002", "m00003", "m00004", "m00005"}, storetest.IDs(p.Messages))
	assert.True(t, p.Truncated)
	p, err = f.p.History(ctx, key, store.Query{Limit: 50, MaxBytes: 6 * one})
	require.NoError(t, err)
	assert.Len(t, p.Messages, 6, "both stores in full when the budget allows")
	assert.False(t, p.Truncated)
}

func TestCloseStopsTheProbeAndIsIdempotent(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, true) // the probe is busy
	eventually(t, func() bool { return f.primary.pings.Load() > 2 }, "probing")
	require.NoError(t, f.p.Close())
	require.NoError(t, f.p.Close())
	ctx := context.Background()
	assert.ErrorIs(t, f.p.Append(ctx, key, msgAt(0)), store.ErrClosed)
	_, err := f.p.History(ctx, key, store.Query{})
	assert.ErrorIs(t, err, store.ErrClosed)
	assert.ErrorIs(t, f.p.Start(ctx), store.ErrClosed)
	assert.ErrorIs(t, f.primary.Store.Ping(ctx), store.ErrClosed, "the primary is closed")
	assert.ErrorIs(t, f.fallback.Ping(ctx), store.ErrClosed, "the fallback is closed")
}

func TestAStartContextEndingStopsTheProbe(t *testing.T) {
	p := store.NewPolicy(store.PolicyOptions{Primary: newFlaky(), Fallback: memstore.New(10)})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, p.Start(ctx))
	require.NoError(t, p.Start(ctx), "a second Start does nothing")
	cancel()
	require.NoError(t, p.Close())
}

func TestHealthIsJSONForStatus(t *testing.T) {
	f := newFixture(t, config.ModeDegraded, true)
	b, err := json.Marshal(f.p.Health())
	require.NoError(t, err)
	assert.JSONEq(t, `{"backend":"redis","mode":"degraded","state":"degraded","degraded":true,
		"last_error":"connection refused"}`, string(b))
}

// redisPolicy returns a policy over redisstore on mr.
func redisPolicy(t *testing.T, mr *miniredis.Miniredis, mode string) (*store.Policy, *logRecorder) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	rs, err := redisstore.New(redisstore.Options{Client: c, Timeout: time.Second, KeyPrefix: "pol:"})
	require.NoError(t, err)
	logs := &logRecorder{}
	p := store.NewPolicy(store.PolicyOptions{
		Mode: mode, Backend: config.BackendRedis, Primary: rs, Fallback: memstore.New(100),
		Logger: slog.New(logs), ProbeInterval: time.Millisecond, MaxProbeInterval: 4 * time.Millisecond,
	})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	return p, logs
}

func TestStrictOverRedisWithInjectedErrors(t *testing.T) {
	mr := miniredis.RunT(t)
	p, logs := redisPolicy(t, mr, config.ModeStrict)
	ctx := context.Background()
	require.NoError(t, p.Append(ctx, key, msgAt(0)))
	mr.SetError("READONLY You can't write against a read only replica.")
	err := p.Append(ctx, key, msgAt(1))
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.Equal(t, store.StateDown, p.Health().State)
	assert.Equal(t, "server error READONLY", p.Health().LastError)
	mr.SetError("")
	eventually(t, func() bool { return p.Health().State == store.StateOK }, "recovery")
	require.NoError(t, p.Append(ctx, key, msgAt(2)))
	page, err := p.History(ctx, key, store.Query{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00000", "m00002"}, storetest.IDs(page.Messages), "a refused message is not stored")
	assert.True(t, page.Complete)
	assert.Equal(t, []string{"ok->down", "down->ok"}, logs.warnings())
}

func TestDegradedOverRedisWithInjectedErrors(t *testing.T) {
	mr := miniredis.RunT(t)
	p, logs := redisPolicy(t, mr, config.ModeDegraded)
	ctx := context.Background()
	require.NoError(t, p.Append(ctx, key, msgAt(0)))
	mr.SetError("LOADING Redis is loading the dataset in memory")
	require.NoError(t, p.Append(ctx, key, msgAt(1)))
	assert.Equal(t, store.StateDegraded, p.Health().State)
	mr.SetError("")
	eventually(t, func() bool { return p.Health().State == store.StateOK }, "recovery")
	require.NoError(t, p.Append(ctx, key, msgAt(2)))
	page, err := p.History(ctx, key, store.Query{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00000", "m00001", "m00002"}, storetest.IDs(page.Messages))
	assert.False(t, page.Complete)
	assert.Equal(t, []string{"ok->degraded", "degraded->ok"}, logs.warnings())
}

func TestLastErrorNeverShowsTheRedisURL(t *testing.T) {
	mr := miniredis.RunT(t)
	addr := mr.Addr()
	mr.Close()
	rs, err := redisstore.New(redisstore.Options{URL: "redis://admin:hunter2-secret@" + addr + "/0", Timeout: time.Second})
	require.NoError(t, err)
	p := store.NewPolicy(store.PolicyOptions{Mode: config.ModeStrict, Backend: config.BackendRedis, Primary: rs})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	h := p.Health()
	assert.Equal(t, store.StateDown, h.State)
	assert.Equal(t, "connection refused", h.LastError)
	err = p.Append(context.Background(), key, msgAt(0))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestPolicyMeetsTheStoreContract(t *testing.T) {
	t.Run("degraded over memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			p := store.NewPolicy(store.PolicyOptions{
				Backend: config.BackendMemory, Primary: memstore.New(storetest.MinCapacity),
				Fallback: memstore.New(storetest.MinCapacity),
			})
			require.NoError(t, p.Start(context.Background()))
			return p
		})
	})
	t.Run("strict over redis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		var seq atomic.Int64
		storetest.Run(t, func(t *testing.T) store.Store {
			prefix := "c" + strconv.FormatInt(seq.Add(1), 10) + ":"
			c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			rs, err := redisstore.New(redisstore.Options{Client: c, KeyPrefix: prefix, MaxLen: storetest.MinCapacity})
			require.NoError(t, err)
			p := store.NewPolicy(store.PolicyOptions{Mode: config.ModeStrict, Backend: config.BackendRedis, Primary: rs})
			require.NoError(t, p.Start(context.Background()))
			return p
		})
	})
}

func TestNilMetricsAndLoggerAreFine(t *testing.T) {
	p := store.NewPolicy(store.PolicyOptions{Primary: memstore.New(10)})
	require.NoError(t, p.Append(context.Background(), key, msgAt(0)))
	require.NoError(t, p.Close())
	assert.True(t, errors.Is(p.Append(context.Background(), key, msgAt(1)), store.ErrClosed))
}
