package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// newPresenceNode starts one broker on mr that beats every 20 ms (real
// time) with the default 15 s lifetime, so tests move the clock of miniredis
// and watch the keys' TTL.
func newPresenceNode(t *testing.T, mr *miniredis.Miniredis, o RedisOptions) (*fakeHub, *Redis) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	hub := &fakeHub{clients: map[string]string{}}
	o.Client, o.Local, o.Prefix, o.Heartbeat = client, hub, "test:", 20*time.Millisecond
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	b := NewRedis(o)
	t.Cleanup(func() {
		_ = b.Close()
		_ = client.Close()
	})
	return hub, b
}

// connect adds a client to hub and announces it, then waits for its key.
func connect(t *testing.T, mr *miniredis.Miniredis, hub *fakeHub, b *Redis, tenant, id string) string {
	t.Helper()
	hub.add(tenant, id)
	b.Connected(tenant, id)
	key := b.presenceKey(tenant, id)
	eventually(t, func() bool { return mr.Exists(key) }, "the presence key of "+id)
	return key
}

func (f *fakeHub) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clients, id)
}

func TestAPresenceKeyLivesOneNodeLifetimeAfterItsNodeStopsRefreshing(t *testing.T) {
	mr := miniredis.RunT(t)
	hub, b := newPresenceNode(t, mr, RedisOptions{})
	key := connect(t, mr, hub, b, "t", "c1")
	assert.Equal(t, nodeTTL, mr.TTL(key), "written with the node's lifetime")
	assert.Equal(t, b.node, must(mr.Get(key)))

	// Close stops the refresh and, like SIGKILL, deletes no presence key.
	require.NoError(t, b.Close())
	require.True(t, mr.Exists(key), "the dead node left its client's key behind")
	mr.FastForward(nodeTTL - time.Millisecond)
	assert.True(t, mr.Exists(key), "still there just inside the lifetime")
	mr.FastForward(time.Millisecond)
	assert.False(t, mr.Exists(key), "gone once the lifetime has passed")
}

func TestALiveNodeKeepsItsPresenceKeysWellPastTheirLifetime(t *testing.T) {
	mr := miniredis.RunT(t)
	hub, b := newPresenceNode(t, mr, RedisOptions{})
	key := connect(t, mr, hub, b, "t", "c1")
	// Ten steps of 6 s: a minute, four lifetimes. Three steps without a
	// refresh in between would expire the key.
	for step := range 10 {
		mr.FastForward(6 * time.Second)
		require.True(t, mr.Exists(key), "step %d: the key survived until the next refresh", step)
		eventually(t, func() bool { return mr.TTL(key) == nodeTTL }, "the refresh renews the key")
	}
	assert.Equal(t, b.node, must(mr.Get(key)))
}

func TestARefreshWritesAgainTheKeyOfAConnectedClientButNotOfAGoneOne(t *testing.T) {
	mr := miniredis.RunT(t)
	hub, b := newPresenceNode(t, mr, RedisOptions{})
	stays := connect(t, mr, hub, b, "t", "stays")
	leaves := connect(t, mr, hub, b, "t", "leaves")

	hub.remove("leaves")
	b.Disconnected("t", "leaves")
	eventually(t, func() bool { return !mr.Exists(leaves) }, "the disconnect deletes its key")

	mr.Del(stays) // lost: a dropped update, an eviction, another node's stale delete
	eventually(t, func() bool { return mr.Exists(stays) }, "the refresh writes the connected client's key again")
	assert.Equal(t, nodeTTL, mr.TTL(stays))
	// Rounds ran after the disconnect (the one that restored "stays" among
	// them), and none brought back the key of the client that left.
	lap := func() {
		mr.Del(stays)
		eventually(t, func() bool { return mr.Exists(stays) }, "another refresh round")
	}
	lap()
	lap()
	assert.False(t, mr.Exists(leaves), "a refresh never recreates a disconnected client's key")
}

func TestAFailedRefreshIsCountedAndLoggedOncePerEpisode(t *testing.T) {
	mr := miniredis.RunT(t)
	log := &syncBuffer{}
	m := metrics.New(nil)
	hub, b := newPresenceNode(t, mr, RedisOptions{
		Metrics: m, Timeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(log, nil)),
	})
	connect(t, mr, hub, b, "t", "c1")
	require.Zero(t, failures(m)[metrics.FailBrokerPresence])

	mr.SetError("LOADING Redis is loading the dataset in memory")
	eventually(t, func() bool { return failures(m)[metrics.FailBrokerPresence] >= 3 }, "every failed round counted")
	assert.Equal(t, 1, strings.Count(log.String(), "op=broker_presence"), "one WARN line for the episode:\n%s", log)

	mr.SetError("")
	eventually(t, func() bool {
		return strings.Contains(log.String(), `msg="cluster broker recovered" op=broker_presence`)
	},
		"the next good round ends the episode")
}

func TestTheHeartbeatIsAThirdOfAShorterLifetime(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	r := NewRedis(RedisOptions{Client: client, Local: &fakeHub{clients: map[string]string{}}, Lifetime: 3 * time.Second})
	t.Cleanup(func() {
		_ = r.Close()
		_ = client.Close()
	})
	assert.Equal(t, 3*time.Second, r.ttl)
	assert.Equal(t, time.Second, r.beat)
}

func must(s string, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}

// syncBuffer is a log sink the broker's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
