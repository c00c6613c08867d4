package command_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// heldReads is a store whose History calls wait until released, so a test
// can hold reads in flight; it records the queries it was given.
type heldReads struct {
	store.Store
	release chan struct{}
	mu      sync.Mutex
	queries []store.Query
	entered chan string // the tenant of each read as it starts
	page    store.Page
}

func newHeldReads(st store.Store) *heldReads {
	return &heldReads{Store: st, release: make(chan struct{}), entered: make(chan string, 64)}
}

func (h *heldReads) History(ctx context.Context, key store.Key, q store.Query) (store.Page, error) {
	h.mu.Lock()
	h.queries = append(h.queries, q)
	h.mu.Unlock()
	h.entered <- key.Tenant
	<-h.release
	if h.page.Messages != nil {
		return h.page, nil
	}
	return h.Store.History(ctx, key, q)
}

func (h *heldReads) lastQuery() store.Query {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queries[len(h.queries)-1]
}

var bob = command.Caller{ClientID: "bob", Subject: "bob", Tenant: "globex", Role: auth.RoleUser}

func TestHistoryReadsOfOneTenantOverTheBoundAreRefusedWhileOtherTenantsRead(t *testing.T) {
	st, _ := storeWithHistory(t, 100, func(int) []byte { return []byte(`{}`) })
	held := newHeldReads(st)
	m := metrics.New(prometheus.NewRegistry())
	reg := command.New(command.Deps{
		Hub: bus.NewHub(8), Store: held, HistoryReadsPerTenant: 2, Metrics: m,
		Status: func() command.Status { return command.Status{} },
	})
	args := `{"room":"science","channel":"explore"}`
	var wg sync.WaitGroup
	answers := make(chan reply, 4)
	for _, who := range []command.Caller{alice, alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- run(t, reg, who, "history", args)
		}()
	}
	for range 3 {
		<-held.entered // acme's two reads and globex's one are in the store
	}

	r := run(t, reg, alice, "history", args)
	assert.Equal(t, string(protocol.CodeRateLimitExceeded), r.Code)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.HistoryReadsRefused))
	env := reg.Handle(context.Background(), alice, &protocol.Envelope{ID: "req-2", Type: protocol.TypeCommand,
		Command: "history", Args: json.RawMessage(args)})
	assert.Contains(t, string(env.Payload), "ARQONBUS_HISTORY_READS_PER_TENANT", "the refusal names the setting")

	// globex is under its own bound: a second read of it starts at once.
	go func() { answers <- run(t, reg, bob, "history", args) }()
	select {
	case tenant := <-held.entered:
		assert.Equal(t, "globex", tenant)
	case <-time.After(5 * time.Second):
		t.Fatal("another tenant's read did not start while acme was at its bound")
	}

	close(held.release)
	wg.Wait()
	for range 4 {
		a := <-answers
		assert.Empty(t, a.Code, "every read in the bound is answered")
		assert.Contains(t, a.Data, "messages")
	}
	r = run(t, reg, alice, "history", args)
	assert.Empty(t, r.Code, "acme's slots came back once its reads answered")
	assert.Len(t, r.Data["messages"], 3)
	assert.Equal(t, 2.0, testutil.ToFloat64(m.HistoryReadsRefused), "the second refused request counted too")
}

func TestAHistoryReadAsksTheStoreForAboutWhatTheReplyCanCarry(t *testing.T) {
	st, _ := storeWithHistory(t, 100, func(int) []byte { return []byte(`{}`) })
	held := newHeldReads(st)
	close(held.release)
	for _, c := range []struct {
		name   string
		budget int
		limit  int
		want   int
	}{
		{"no reply budget, no store budget", 0, 50, 0},
		{"the reply budget plus the fixed overhead of each message", 1 << 20, 10,
			1<<20 + 10*store.Size(&protocol.Envelope{})},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := command.New(command.Deps{
				Hub: bus.NewHub(8), Store: held, MaxReplyBytes: c.budget,
				Status: func() command.Status { return command.Status{} },
			})
			r := run(t, reg, alice, "history", fmt.Sprintf(`{"room":"science","channel":"explore","limit":%d}`, c.limit))
			require.Empty(t, r.Code)
			<-held.entered
			assert.Equal(t, c.want, held.lastQuery().MaxBytes)
			assert.Equal(t, false, r.Data["truncated"])
		})
	}
}

func TestAHistoryReplyIsTruncatedWhenTheStoreTruncatedThePage(t *testing.T) {
	st, envs := storeWithHistory(t, 100, func(int) []byte { return []byte(`{}`) })
	held := newHeldReads(st)
	close(held.release)
	held.page = store.Page{Messages: []protocol.Envelope{*envs[2]}, Complete: true, Truncated: true}
	reg := command.New(command.Deps{
		Hub: bus.NewHub(8), Store: held, MaxReplyBytes: 1 << 20,
		Status: func() command.Status { return command.Status{} },
	})
	r := run(t, reg, alice, "history", `{"room":"science","channel":"explore"}`)
	require.Empty(t, r.Code)
	assert.Len(t, r.Data["messages"], 1, "the reply itself had room for more")
	assert.Equal(t, true, r.Data["truncated"], "the store left older messages out")
	assert.Equal(t, true, r.Data["complete"])
}

func TestATenantThatReadsMoreHistoryBytesPerSecondThanItsRateWaitsWhileOtherTenantsRead(t *testing.T) {
	big := func(int) []byte { return []byte(`"` + strings.Repeat("x", 100_000) + `"`) }
	st, _ := storeWithHistory(t, 100, big)
	require.NoError(t, st.Append(context.Background(), store.Key{Tenant: "globex", Room: "science", Channel: "explore"},
		&protocol.Envelope{ID: "g1", Type: protocol.TypeMessage, Timestamp: time.Now(), Room: "science", Channel: "explore", Payload: big(0)}))
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m := metrics.New(prometheus.NewRegistry())
	reg := command.New(command.Deps{
		Hub: bus.NewHub(8), Store: st, HistoryReadsPerTenant: 4, HistoryReadBytesPerSecond: 200_000,
		Metrics: m, Clock: clock, MaxReplyBytes: 1 << 20,
		Status: func() command.Status { return command.Status{} },
	})
	args := `{"room":"science","channel":"explore"}`

	first := run(t, reg, alice, "history", args)
	require.Empty(t, first.Code, "a full bucket lets the first read in")
	require.Len(t, first.Data["messages"], 3, "and it reads ~300 kB, a second and a half of its rate")

	over := run(t, reg, alice, "history", args)
	assert.Equal(t, string(protocol.CodeRateLimitExceeded), over.Code)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.HistoryReadsRefused))
	other := run(t, reg, bob, "history", args)
	require.Empty(t, other.Code, "another tenant's bucket is its own")
	require.Len(t, other.Data["messages"], 1)

	advance(400 * time.Millisecond) // 80 kB back: still ~20 kB in debt
	assert.Equal(t, string(protocol.CodeRateLimitExceeded), run(t, reg, alice, "history", args).Code)
	advance(200 * time.Millisecond) // 40 kB more: above zero again
	assert.Empty(t, run(t, reg, alice, "history", args).Code, "the tenant reads again once its debt is paid")
	assert.Equal(t, 2.0, testutil.ToFloat64(m.HistoryReadsRefused))
}
