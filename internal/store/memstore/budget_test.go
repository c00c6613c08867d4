package memstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// sized returns a message of key whose store.Size is exactly size bytes.
func sized(key store.Key, id string, size int) *protocol.Envelope {
	env := &protocol.Envelope{
		ID: id, Type: protocol.TypeMessage, Version: protocol.Version, Room: key.Room, Channel: key.Channel,
		Timestamp: storetest.Base,
	}
	fill := size - store.Size(env) - 2 // the payload is a JSON string: two quotes
	if fill < 0 {
		panic(fmt.Sprintf("size %d is below an empty message's", size))
	}
	env.Payload = json.RawMessage(`"` + strings.Repeat("x", fill) + `"`)
	return env
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func roomKey(tenant string, room int) store.Key {
	return store.Key{Tenant: tenant, Room: fmt.Sprintf("room%d", room), Channel: "main"}
}

func put(t *testing.T, s *memstore.Store, key store.Key, id string, size int) {
	t.Helper()
	require.NoError(t, s.Append(context.Background(), key, sized(key, id, size)))
}

func idsOf(t *testing.T, s *memstore.Store, key store.Key) []string {
	t.Helper()
	p, err := s.History(context.Background(), key, store.Query{Limit: store.MaxHistoryLimit})
	require.NoError(t, err)
	return storetest.IDs(p.Messages)
}

func evicted(m *metrics.Metrics, reason string) float64 {
	return testutil.ToFloat64(m.HistoryEvicted.WithLabelValues(reason))
}

func TestATenantOverItsShareLosesItsOwnOldestMessagesAndNobodyElses(t *testing.T) {
	m := metrics.New(nil)
	s := memstore.NewWithOptions(memstore.Options{MaxBytes: 10_000, TenantMaxBytes: 3_000, Metrics: m})
	defer s.Close()
	quiet := roomKey("quiet", 0)
	put(t, s, quiet, "q1", 1_000)
	for i := range 5 { // 5,000 bytes over two rooms: 2,000 too many
		put(t, s, roomKey("loud", i%2), fmt.Sprintf("l%d", i), 1_000)
	}
	assert.Equal(t, []string{"l3"}, idsOf(t, s, roomKey("loud", 1)), "l1 was older than the share allows")
	assert.Equal(t, []string{"l2", "l4"}, idsOf(t, s, roomKey("loud", 0)), "l0 was the oldest")
	assert.Equal(t, []string{"q1"}, idsOf(t, s, quiet), "the other tenant's history is untouched")
	assert.Equal(t, int64(4_000), s.Bytes())
	assert.Equal(t, int64(4), s.Messages())
	assert.Equal(t, 2.0, evicted(m, metrics.EvictTenantShare))
	assert.Equal(t, 0.0, evicted(m, metrics.EvictNodeBudget))
}

func TestTheNodeBudgetEvictsTheOldestMessagesOfAnyTenant(t *testing.T) {
	m := metrics.New(nil)
	s := memstore.NewWithOptions(memstore.Options{MaxBytes: 3_000, TenantMaxBytes: 3_000, Metrics: m})
	defer s.Close()
	a, b := roomKey("a", 0), roomKey("b", 0)
	put(t, s, a, "a1", 1_000)
	put(t, s, b, "b1", 1_000)
	put(t, s, a, "a2", 1_000)
	put(t, s, b, "b2", 1_000) // passes 3,000: a1 is the oldest of the node
	assert.Equal(t, []string{"a2"}, idsOf(t, s, a))
	assert.Equal(t, []string{"b1", "b2"}, idsOf(t, s, b))
	put(t, s, a, "a3", 1_500) // b1 and a2 are the oldest now
	assert.Equal(t, []string{"a3"}, idsOf(t, s, a))
	assert.Equal(t, []string{"b2"}, idsOf(t, s, b))
	assert.Equal(t, int64(2_500), s.Bytes())
	assert.Equal(t, 3.0, evicted(m, metrics.EvictNodeBudget))
	assert.Equal(t, 0.0, evicted(m, metrics.EvictTenantShare))
}

func TestAMessageLargerThanTheShareIsKeptAloneAsItsTenantsNewest(t *testing.T) {
	s := memstore.NewWithOptions(memstore.Options{MaxBytes: 10_000, TenantMaxBytes: 2_000})
	defer s.Close()
	k := roomKey("a", 0)
	put(t, s, k, "small", 1_000)
	put(t, s, k, "huge", 5_000)
	assert.Equal(t, []string{"huge"}, idsOf(t, s, k), "the newest message is always readable")
	assert.Equal(t, int64(5_000), s.Bytes())
	put(t, s, k, "after", 600)
	assert.Equal(t, []string{"after"}, idsOf(t, s, k), "the next message pushes it out like any other")
	assert.Equal(t, int64(600), s.Bytes())
}

func TestARingEmptiedByTheBudgetIsFreed(t *testing.T) {
	s := memstore.NewWithOptions(memstore.Options{MaxBytes: 10_000, TenantMaxBytes: 2_000})
	defer s.Close()
	for i := range 10 {
		put(t, s, roomKey("a", i), "m", 1_000)
	}
	assert.Equal(t, int64(2), s.Streams(), "only the two newest rooms still hold a message")
	assert.Equal(t, int64(2), s.Messages())
	assert.Equal(t, int64(2_000), s.Bytes())
	assert.Equal(t, []string{"m"}, idsOf(t, s, roomKey("a", 9)))
	assert.Empty(t, idsOf(t, s, roomKey("a", 0)))

	put(t, s, roomKey("a", 0), "again", 600)
	assert.Equal(t, []string{"again"}, idsOf(t, s, roomKey("a", 0)), "a freed room takes messages again")
}

func TestAFullRingStillCountsBytesExactly(t *testing.T) {
	s := memstore.NewWithOptions(memstore.Options{MaxPerKey: 2, MaxBytes: 10_000, TenantMaxBytes: 10_000})
	defer s.Close()
	k := roomKey("a", 0)
	put(t, s, k, "1", 1_000)
	put(t, s, k, "2", 2_000)
	put(t, s, k, "3", 3_000) // the ring pushes "1" out, not the budget
	assert.Equal(t, []string{"2", "3"}, idsOf(t, s, k))
	assert.Equal(t, int64(5_000), s.Bytes())
	put(t, s, k, "4", 8_000) // "2" leaves with the ring; with "3" that passes 10,000, so "3" leaves too
	assert.Equal(t, []string{"4"}, idsOf(t, s, k))
	assert.Equal(t, int64(8_000), s.Bytes())
}

func TestIdleRingsAreDroppedAfterTheTTL(t *testing.T) {
	clock := &fakeClock{now: storetest.Base}
	m := metrics.New(nil)
	s := memstore.NewWithOptions(memstore.Options{MaxBytes: 1 << 20, TenantMaxBytes: 1 << 20, TTL: time.Hour,
		Clock: clock.Now, Metrics: m})
	defer s.Close()
	idle, busy := roomKey("a", 0), roomKey("a", 1)
	put(t, s, idle, "i1", 600)
	put(t, s, idle, "i2", 600)
	put(t, s, busy, "b1", 600)
	clock.Advance(59 * time.Minute)
	put(t, s, busy, "b2", 600)
	assert.Equal(t, 0, s.Sweep(), "nothing is idle for an hour yet")
	assert.Equal(t, int64(2), s.Streams())

	clock.Advance(time.Minute)
	assert.Equal(t, 2, s.Sweep(), "the idle room's two messages go")
	assert.Equal(t, int64(1), s.Streams())
	assert.Equal(t, int64(1_200), s.Bytes())
	assert.Empty(t, idsOf(t, s, idle))
	assert.Equal(t, []string{"b1", "b2"}, idsOf(t, s, busy), "an append renews the whole ring")
	assert.Equal(t, 2.0, evicted(m, metrics.EvictIdle))
}

func TestAZeroTTLKeepsIdleRings(t *testing.T) {
	clock := &fakeClock{now: storetest.Base}
	s := memstore.NewWithOptions(memstore.Options{Clock: clock.Now})
	defer s.Close()
	put(t, s, key, "m", 600)
	clock.Advance(1000 * time.Hour)
	assert.Equal(t, 0, s.Sweep())
	assert.Equal(t, []string{"m"}, idsOf(t, s, key))
}

func TestTheSweeperRunsOnItsOwnAndStopsWithClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	clock := &fakeClock{now: storetest.Base}
	s := memstore.NewWithOptions(memstore.Options{TTL: time.Second, Clock: clock.Now})
	put(t, s, key, "m", 600)
	clock.Advance(time.Hour)
	require.Eventually(t, func() bool { return s.Streams() == 0 }, 5*time.Second, 20*time.Millisecond,
		"the sweeper drops the idle ring without being called")
	require.NoError(t, s.Close())
}

func TestAnEvictedSinceIDStillLeavesThePageIncomplete(t *testing.T) {
	s := memstore.NewWithOptions(memstore.Options{MaxBytes: 10_000, TenantMaxBytes: 3_000})
	defer s.Close()
	k := roomKey("a", 0)
	for i := range 5 {
		put(t, s, k, fmt.Sprintf("m%d", i), 1_000)
	}
	p, err := s.History(context.Background(), k, store.Query{Limit: 50, SinceID: "m1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m2", "m3", "m4"}, storetest.IDs(p.Messages))
	assert.False(t, p.Complete, "m1 was evicted by the budget: what followed it may be gone too")
	p, err = s.History(context.Background(), k, store.Query{Limit: 50, SinceID: "m2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m3", "m4"}, storetest.IDs(p.Messages))
	assert.True(t, p.Complete, "a held since id proves the page is whole")
}

func TestMaxBytesCutsAPageNewestFirstAndSaysSo(t *testing.T) {
	s := memstore.New(100)
	defer s.Close()
	for i := range 5 {
		put(t, s, key, fmt.Sprintf("m%d", i), 1_000)
	}
	cases := []struct {
		name      string
		q         store.Query
		ids       []string
		truncated bool
	}{
		{"room for three", store.Query{Limit: 50, MaxBytes: 3_500}, []string{"m2", "m3", "m4"}, true},
		{"exactly three", store.Query{Limit: 50, MaxBytes: 3_000}, []string{"m2", "m3", "m4"}, true},
		{"the newest even if too big", store.Query{Limit: 50, MaxBytes: 10}, []string{"m4"}, true},
		{"all of it fits", store.Query{Limit: 50, MaxBytes: 5_000}, []string{"m0", "m1", "m2", "m3", "m4"}, false},
		{"the limit comes first", store.Query{Limit: 2, MaxBytes: 2_000}, []string{"m3", "m4"}, false},
		{"nothing older to leave out", store.Query{Limit: 50, SinceID: "m2", MaxBytes: 2_000}, []string{"m3", "m4"}, false},
		{"no bound", store.Query{Limit: 50}, []string{"m0", "m1", "m2", "m3", "m4"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.History(context.Background(), key, c.q)
			require.NoError(t, err)
			assert.Equal(t, c.ids, storetest.IDs(p.Messages))
			assert.Equal(t, c.truncated, p.Truncated)
			assert.True(t, p.Complete, "truncation is not a gap")
		})
	}
}

func TestConcurrentAppendsKeepTheCountsExactAndTheBudgetHeld(t *testing.T) {
	const node, share = 200_000, 80_000
	s := memstore.NewWithOptions(memstore.Options{MaxPerKey: 50, MaxBytes: node, TenantMaxBytes: share})
	defer s.Close()
	var keys []store.Key
	for _, tenant := range []string{"a", "b", "c", "d"} {
		for room := range 8 {
			keys = append(keys, roomKey(tenant, room))
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := keys[(g*7+i)%len(keys)]
				if err := s.Append(context.Background(), k, sized(k, fmt.Sprintf("g%d-%d", g, i), 600+(i*37)%3_000)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total, messages, streams := 0, 0, 0
	perTenant := map[string]int{}
	for _, k := range keys {
		p, err := s.History(context.Background(), k, store.Query{Limit: store.MaxHistoryLimit})
		require.NoError(t, err)
		for i := range p.Messages {
			total += store.Size(&p.Messages[i])
			perTenant[k.Tenant] += store.Size(&p.Messages[i])
		}
		messages += len(p.Messages)
		if len(p.Messages) > 0 {
			streams++
		}
	}
	assert.Equal(t, int64(total), s.Bytes())
	assert.Equal(t, int64(messages), s.Messages())
	assert.Equal(t, int64(streams), s.Streams())
	assert.LessOrEqual(t, total, node)
	assert.Greater(t, total, node/2, "the budget was reached, so it was tested")
	for tenant, n := range perTenant {
		assert.LessOrEqual(t, n, share, tenant)
	}
}
