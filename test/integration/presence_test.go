//go:build integration

package integration

import (
	"context"
	"fmt"
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

// clientSet is a node's hub as the broker sees it: a fixed set of clients.
type clientSet struct {
	tenant string
	mu     sync.Mutex
	ids    map[string]bool
}

func (c *clientSet) Deliver(*broker.Delivery) int { return 0 }

func (c *clientSet) HasClient(tenant, id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return tenant == c.tenant && c.ids[id]
}

func (c *clientSet) EachClient(f func(tenant, id string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.ids {
		f(c.tenant, id)
	}
}

// presenceNode starts a broker on srv under prefix with n connected clients
// of tenant, each announced.
func presenceNode(t *testing.T, srv *redistest.RedisServer, prefix, tenant string, n int, lifetime time.Duration) *broker.Redis {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	require.NoError(t, err)
	rc := redis.NewClient(opt)
	hub := &clientSet{tenant: tenant, ids: map[string]bool{}}
	b := broker.NewRedis(broker.RedisOptions{Client: rc, Local: hub, Prefix: prefix, Lifetime: lifetime})
	t.Cleanup(func() {
		_ = b.Close()
		_ = rc.Close()
	})
	for i := range n {
		id := fmt.Sprintf("%s-%d", tenant, i)
		hub.mu.Lock()
		hub.ids[id] = true
		hub.mu.Unlock()
		b.Connected(tenant, id)
	}
	return b
}

// A node killed without deleting its clients' presence keys left them in
// Redis forever. The keys now share the node's lifetime: the test stops one
// node's refresh (Close deletes no presence key, as SIGKILL would not) and
// watches its keys vanish within one lifetime, while a live node with more
// clients than one refresh batch keeps every key for several lifetimes.
func TestADeadNodesPresenceKeysVanishWithinOneLifetimeWhileALiveNodesStay(t *testing.T) {
	t.Parallel()
	const lifetime = 1500 * time.Millisecond
	srv := redistest.Redis(t)
	rc := redistest.RedisClient(t, srv)
	prefix := srv.Prefix(t)
	count := func(tenant string) int { return len(scanKeys(t, rc, prefix+`presence:"`+tenant+`":*`)) }

	live := presenceNode(t, srv, prefix, "live", 2500, lifetime)
	dying := presenceNode(t, srv, prefix, "dying", 300, lifetime)
	testutil.Eventually(t, func() bool { return count("live") == 2500 && count("dying") == 300 }, 10*time.Second,
		"every client announced")
	ctx := context.Background()
	reachable, err := live.HasClient(ctx, "dying", "dying-0")
	require.NoError(t, err)
	require.True(t, reachable, "control: the other node's client is reachable while it lives")

	require.NoError(t, dying.Close())
	stopped := time.Now()
	require.Equal(t, 300, count("dying"), "the stopped node deleted none of its presence keys")
	testutil.Eventually(t, func() bool { return count("dying") == 0 }, lifetime+time.Second,
		"the stopped node's presence keys expire within one lifetime")
	gone := time.Since(stopped)
	t.Logf("the stopped node's 300 presence keys were gone %v after it stopped (lifetime %v)", gone.Round(time.Millisecond), lifetime)

	// Three lifetimes after the live node announced its clients, all are
	// still there, each with a lifetime (none written without one).
	time.Sleep(3*lifetime - gone)
	assert.Equal(t, 2500, count("live"), "the live node's keys are renewed across refresh batches")
	for _, id := range []string{"live-0", "live-1234", "live-2499"} {
		ttl, err := rc.PTTL(ctx, prefix+`presence:"live":`+id).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "%s expires unless renewed", id)
	}
}
