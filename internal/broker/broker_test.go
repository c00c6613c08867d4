package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHub records deliveries and knows a fixed set of clients.
type fakeHub struct {
	mu      sync.Mutex
	got     []Delivery
	clients map[string]string // id → tenant
}

func (f *fakeHub) Deliver(d *Delivery) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, *d)
	return 1
}

func (f *fakeHub) HasClient(tenant, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.clients[id]
	return ok && t == tenant
}

func (f *fakeHub) EachClient(fn func(tenant, id string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, t := range f.clients {
		fn(t, id)
	}
}

func (f *fakeHub) add(tenant, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[id] = tenant
}

func (f *fakeHub) deliveries() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.got...)
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMemoryBrokerDeliversToTheLocalHub(t *testing.T) {
	h := &fakeHub{clients: map[string]string{"c1": "t"}}
	m := NewMemory(h)
	n, err := m.Publish(context.Background(), &Delivery{Room: "r", Channel: "c", Frame: []byte(`{}`)})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ok, _ := m.HasClient(context.Background(), "t", "c1")
	assert.True(t, ok)
	require.NoError(t, m.Close())
	_, err = m.Publish(context.Background(), &Delivery{})
	assert.ErrorIs(t, err, ErrClosed)
}

// newRedisPair starts two brokers on one miniredis; m, when given, is the
// first node's metrics.
func newRedisPair(t *testing.T, m ...*metrics.Metrics) (*miniredis.Miniredis, [2]*fakeHub, [2]*Redis) {
	t.Helper()
	mr := miniredis.RunT(t)
	var hubs [2]*fakeHub
	var brokers [2]*Redis
	for i := range brokers {
		client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		hubs[i] = &fakeHub{clients: map[string]string{}}
		o := RedisOptions{Client: client, Local: hubs[i], Prefix: "test:", Timeout: time.Second, Heartbeat: 50 * time.Millisecond}
		if i == 0 && len(m) > 0 {
			o.Metrics = m[0]
		}
		brokers[i] = NewRedis(o)
		t.Cleanup(func() {
			_ = brokers[i].Close()
			_ = client.Close()
		})
	}
	eventually(t, func() bool { return len(mr.PubSubChannels("")) == 1 && mr.PubSubNumSub("test:bus")["test:bus"] == 2 }, "both nodes subscribed")
	return mr, hubs, brokers
}

func TestRedisBrokerDeliversOnceOnEveryNode(t *testing.T) {
	_, hubs, brokers := newRedisPair(t)
	frame := []byte(`{"id":"m1","payload":{"x":"é\n"}}`)
	n, err := brokers[0].Publish(context.Background(), &Delivery{Tenant: "t", Room: "a:b", Channel: "c", SenderID: "s", Frame: frame})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	eventually(t, func() bool { return len(hubs[1].deliveries()) == 1 }, "remote delivery")
	got := hubs[1].deliveries()[0]
	assert.Equal(t, Delivery{Tenant: "t", Room: "a:b", Channel: "c", SenderID: "s", Frame: frame}, got, "routing and frame arrive verbatim")
	assert.Len(t, hubs[0].deliveries(), 1, "the publishing node delivers once, locally")
}

// Message buffers are reused once written: a burst of publishes of mixed
// sizes (some larger than any pooled buffer) must reach the other node
// whole, each with its own frame, in order.
func TestRedisBrokerReusesBuffersWithoutMixingMessages(t *testing.T) {
	_, hubs, brokers := newRedisPair(t)
	var want [][]byte
	for i := range 300 {
		size := []int{10, 900, 5000, maxPooledMessage + 1}[i%4]
		frame := fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), size))
		want = append(want, frame)
		_, err := brokers[0].Publish(context.Background(), &Delivery{Room: "r", Channel: strconv.Itoa(i), Frame: frame})
		require.NoError(t, err)
	}
	eventually(t, func() bool { return len(hubs[1].deliveries()) == len(want) }, "every message on the other node")
	for i, d := range hubs[1].deliveries() {
		require.Equal(t, strconv.Itoa(i), d.Channel, "in order")
		require.Equal(t, string(want[i]), string(d.Frame), "message %d intact", i)
	}
}

// A node hears its own publishes back; it recognises them by their first
// bytes and never decodes them, while another node's body with the same
// routing is decoded and delivered.
func TestRedisBrokerSkipsItsOwnPublishesUndecoded(t *testing.T) {
	m := metrics.New(nil)
	mr, hubs, brokers := newRedisPair(t, m)
	own := brokers[0].self + `"t":broken`
	assert.Equal(t, 2, mr.Publish("test:bus", own), "both nodes hear it")
	other := string(appendMessage(nil, brokers[1].node, &Delivery{Room: "r", Channel: "c", Frame: []byte(`{}`)}))
	mr.Publish("test:bus", other)
	eventually(t, func() bool { return len(hubs[0].deliveries()) == 1 }, "the other node's message")
	assert.Empty(t, failures(m), "its own malformed body was skipped, not decoded")
	assert.Equal(t, "r", hubs[0].deliveries()[0].Room)
}

func TestRedisBrokerFindsClientsOnOtherLiveNodes(t *testing.T) {
	_, hubs, brokers := newRedisPair(t)
	hubs[1].add("t", "c2")
	brokers[1].Connected("t", "c2")
	eventually(t, func() bool {
		ok, _ := brokers[0].HasClient(context.Background(), "t", "c2")
		return ok
	}, "presence visible from the other node")
	ok, _ := brokers[0].HasClient(context.Background(), "other", "c2")
	assert.False(t, ok, "presence is per tenant")
	brokers[1].Disconnected("t", "c2")
	eventually(t, func() bool {
		ok, _ := brokers[0].HasClient(context.Background(), "t", "c2")
		return !ok
	}, "presence removed")
}

func TestRedisBrokerKeepsDeliveringLocallyWhenRedisFails(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer client.Close()
	h := &fakeHub{clients: map[string]string{}}
	m := metrics.New(nil)
	b := NewRedis(RedisOptions{Client: client, Local: h, Timeout: 200 * time.Millisecond, Metrics: m})
	defer b.Close()
	mr.SetError("LOADING")
	n, err := b.Publish(context.Background(), &Delivery{Room: "r", Channel: "c", Frame: []byte(`{}`)})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "local delivery does not wait for Redis")
	eventually(t, func() bool { return failures(m)[metrics.FailBrokerPublish] == 1 }, "the failure is counted, not swallowed")
}

func TestPresenceIsAnnouncedAgainAfterRedisLosesItsData(t *testing.T) {
	mr, hubs, brokers := newRedisPair(t)
	hubs[1].add("t", "c2")
	brokers[1].Connected("t", "c2")
	reachable := func() bool {
		ok, _ := brokers[0].HasClient(context.Background(), "t", "c2")
		return ok
	}
	eventually(t, reachable, "presence visible")
	mr.FlushAll() // a restart without persistence, or a failover
	require.False(t, reachable())
	eventually(t, reachable, "the heartbeat notices the lost node key and announces its clients again")
}

// failures reads the broker's failure counters that are not 0, by operation.
func failures(m *metrics.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, op := range []string{metrics.FailBrokerPublish, metrics.FailBrokerDecode, metrics.FailBrokerHeartbeat, metrics.FailBrokerPresence} {
		if v := promtest.ToFloat64(m.Failures.WithLabelValues(op)); v != 0 {
			out[op] = v
		}
	}
	return out
}
