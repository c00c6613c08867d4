package regression

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestRegression_PresenceKeysOfAKilledNodeExpireWithinFifteenSeconds: a
// node wrote one presence key per client (presence:<tenant>:<id> → node)
// without an expiry and deleted it only on disconnect, so a node killed with
// SIGKILL, or whose host died, left every one of its clients in Redis for
// good: keys piled up across crashes and named clients that were gone. The
// keys now live as long as the node's liveness key (15 s), renewed with it
// while the node lives (SPEC §12; the bound is in docs/runbook.md, "Scaling out").
func TestRegression_PresenceKeysOfAKilledNodeExpireWithinFifteenSeconds(t *testing.T) {
	mr := redistest.MiniRedis(t)
	survivor := presenceBroker(t, mr.Addr(), "a")
	killed := presenceBroker(t, mr.Addr(), "b")
	ctx := context.Background()
	testutil.Eventually(t, func() bool { return len(mr.Keys()) == 4 }, 5*time.Second, "two liveness and two presence keys")
	const victim = `arqonbus:presence:"t":b`
	require.Equal(t, 15*time.Second, mr.TTL(victim), "a presence key is written with the node's lifetime")
	found, err := survivor.HasClient(ctx, "t", "b")
	require.NoError(t, err)
	require.True(t, found, "control: the other node's client is reachable while that node lives")

	// Close stops the node's goroutines and deletes no presence key: what a
	// kill leaves behind.
	require.NoError(t, killed.Close())
	require.True(t, mr.Exists(victim), "the killed node's presence key outlives it for now")

	const alive = `arqonbus:presence:"t":a`
	mr.FastForward(10 * time.Second)
	testutil.Eventually(t, func() bool { return mr.TTL(alive) == 15*time.Second }, 5*time.Second,
		"the live node renews its client's key")
	require.True(t, mr.Exists(victim), "the killed node's key is not renewed, but not yet expired")
	mr.FastForward(5 * time.Second)
	assert.False(t, mr.Exists(victim), "gone one lifetime after the node's last renewal")
	assert.True(t, mr.Exists(alive), "the live node's client is still present")
}

// presenceBroker starts a Redis broker on addr serving one client, id, of
// tenant "t" and announces it.
func presenceBroker(t testing.TB, addr, id string) *broker.Redis {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	hub := &oneClient{id: id}
	b := broker.NewRedis(broker.RedisOptions{Client: rc, Local: hub, Heartbeat: 20 * time.Millisecond})
	t.Cleanup(func() {
		_ = b.Close()
		_ = rc.Close()
	})
	b.Connected("t", id)
	return b
}

// oneClient is a node's hub holding one client of tenant "t".
type oneClient struct {
	mu sync.Mutex
	id string
}

func (o *oneClient) Deliver(*broker.Delivery) int { return 0 }

func (o *oneClient) HasClient(tenant, id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return tenant == "t" && id == o.id
}

func (o *oneClient) EachClient(f func(tenant, id string)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f("t", o.id)
}
