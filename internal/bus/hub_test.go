package bus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// recorder is a Subscriber that keeps what it is sent.
type recorder struct {
	id, tenant string
	mu         sync.Mutex
	frames     [][]byte
	refuse     bool
	count      atomic.Int64
}

func (r *recorder) ID() string     { return r.id }
func (r *recorder) Tenant() string { return r.tenant }
func (r *recorder) Send(f []byte) bool {
	if r.refuse {
		return false
	}
	r.mu.Lock()
	r.frames = append(r.frames, f)
	r.mu.Unlock()
	r.count.Add(1)
	return true
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.frames))
	for i, f := range r.frames {
		out[i] = string(f)
	}
	return out
}

func newClients(h *Hub, tenant string, n int) []*recorder {
	out := make([]*recorder, n)
	for i := range out {
		out[i] = &recorder{id: fmt.Sprintf("%s-c%d", tenant, i), tenant: tenant}
		h.Register(out[i])
	}
	return out
}

func TestDeliverReachesEveryMemberButTheSender(t *testing.T) {
	h := NewHub(8)
	cs := newClients(h, "", 3)
	top := Topic{Room: "science", Channel: "explore"}
	for _, c := range cs {
		_, err := h.Join(c.id, top)
		require.NoError(t, err)
	}
	n := h.Deliver(&broker.Delivery{Room: "science", Channel: "explore", SenderID: cs[0].id, Frame: []byte("m1")})
	assert.Equal(t, 2, n)
	assert.Empty(t, cs[0].got())
	assert.Equal(t, []string{"m1"}, cs[1].got())
	assert.Equal(t, []string{"m1"}, cs[2].got())
}

func TestPairsAreKeptApartNotJoined(t *testing.T) {
	h := NewHub(8)
	cs := newClients(h, "", 2)
	_, _ = h.Join(cs[0].id, Topic{Room: "a:b", Channel: "c"})
	_, _ = h.Join(cs[1].id, Topic{Room: "a", Channel: "b:c"})
	h.Deliver(&broker.Delivery{Room: "a:b", Channel: "c", Frame: []byte("x")})
	assert.Equal(t, []string{"x"}, cs[0].got())
	assert.Empty(t, cs[1].got(), "a:b/c and a/b:c are different pairs")
}

func TestTenantsNeverSeeEachOthersRoomsOrClients(t *testing.T) {
	h := NewHub(8)
	a := newClients(h, "tenant-a", 1)[0]
	b := newClients(h, "tenant-b", 1)[0]
	_, _ = h.Join(a.id, Topic{Tenant: "tenant-a", Room: "r", Channel: "c"})
	_, _ = h.Join(b.id, Topic{Tenant: "tenant-b", Room: "r", Channel: "c"})
	h.Deliver(&broker.Delivery{Tenant: "tenant-a", Room: "r", Channel: "c", Frame: []byte("for-a")})
	assert.Equal(t, []string{"for-a"}, a.got())
	assert.Empty(t, b.got())

	assert.Equal(t, 0, h.Deliver(&broker.Delivery{Tenant: "tenant-a", ToClient: b.id, Frame: []byte("dm")}))
	assert.False(t, h.HasClient("tenant-a", b.id))
	assert.Equal(t, []ChannelInfo{{Room: "r", Channel: "c", Members: 1}}, h.Channels("tenant-a", ""))
}

func TestJoinLeaveAndTheSubscriptionCap(t *testing.T) {
	h := NewHub(2)
	c := newClients(h, "", 1)[0]
	n, err := h.Join(c.id, Topic{Room: "r", Channel: "1"})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = h.Join(c.id, Topic{Room: "r", Channel: "1"})
	require.NoError(t, err, "joining twice is not an error")
	assert.Equal(t, 1, n)
	_, err = h.Join(c.id, Topic{Room: "r", Channel: "2"})
	require.NoError(t, err)
	_, err = h.Join(c.id, Topic{Room: "r", Channel: "3"})
	assert.Equal(t, protocol.CodeLimitExceeded, protocol.AsWire(err).Code)

	n, err = h.Leave(c.id, Topic{Room: "r", Channel: "1"})
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	_, err = h.Leave(c.id, Topic{Room: "r", Channel: "1"})
	assert.Equal(t, protocol.CodeNotFound, protocol.AsWire(err).Code)
	rooms, channels := h.Stats()
	assert.Equal(t, 1, rooms)
	assert.Equal(t, 1, channels, "a pair vanishes with its last member")
}

func TestUnregisterRemovesEveryMembership(t *testing.T) {
	h := NewHub(8)
	cs := newClients(h, "", 2)
	for _, c := range cs {
		_, _ = h.Join(c.id, Topic{Room: "r", Channel: "c"})
		_, _ = h.Join(c.id, Topic{Room: "r", Channel: "d"})
	}
	h.Unregister(cs[0].id)
	assert.Equal(t, []string{cs[1].id}, h.Members(Topic{Room: "r", Channel: "c"}))
	assert.Equal(t, 1, h.Clients())
	_, err := h.Join(cs[0].id, Topic{Room: "r", Channel: "c"})
	assert.Error(t, err)
	h.Unregister(cs[1].id)
	_, channels := h.Stats()
	assert.Zero(t, channels)
}

func TestDeliverCountsOnlyTheFramesItEnqueued(t *testing.T) {
	m := metrics.New(nil)
	h := NewHubWith(HubOptions{MaxSubscriptions: 8, Metrics: m})
	cs := newClients(h, "", 3)
	cs[1].refuse = true
	for _, c := range cs {
		_, _ = h.Join(c.id, Topic{Room: "r", Channel: "c"})
	}
	n := h.Deliver(&broker.Delivery{Room: "r", Channel: "c", SenderID: cs[2].id, Frame: []byte("x")})
	assert.Equal(t, 1, n, "the sender is skipped and the refusing member enqueues nothing")
	assert.Equal(t, 1.0, promtest.ToFloat64(m.MessagesDelivered))
	h.Deliver(&broker.Delivery{ToClient: cs[0].id, Frame: []byte("y")})
	assert.Equal(t, 2.0, promtest.ToFloat64(m.MessagesDelivered), "a direct frame counts too")
}

func TestConcurrentJoinLeaveAndDeliverAreRaceFree(t *testing.T) {
	h := NewHub(64)
	cs := newClients(h, "", 16)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				top := Topic{Room: "r", Channel: fmt.Sprint(j % 4)}
				_, _ = h.Join(c.id, top)
				h.Deliver(&broker.Delivery{Room: "r", Channel: top.Channel, SenderID: c.id, Frame: []byte{byte(i)}})
				if j%3 == 0 {
					_, _ = h.Leave(c.id, top)
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		h.Unregister(c.id)
	}
	_, channels := h.Stats()
	assert.Zero(t, channels)
}

// BenchmarkFanout1000 measures one publish fanned out to 1000 in-memory
// subscribers (frames/s = 1000 × ops/s).
func BenchmarkFanout1000(b *testing.B)  { benchFanout(b, 1000) }
func BenchmarkFanout10000(b *testing.B) { benchFanout(b, 10000) }

type nopSub struct{ id string }

func (n *nopSub) ID() string         { return n.id }
func (n *nopSub) Tenant() string     { return "" }
func (n *nopSub) Send(f []byte) bool { return len(f) > 0 }

func benchFanout(b *testing.B, subs int) {
	h := NewHub(8)
	top := Topic{Room: "bench", Channel: "fanout"}
	for i := 0; i < subs; i++ {
		s := &nopSub{id: fmt.Sprint("c", i)}
		h.Register(s)
		_, _ = h.Join(s.id, top)
	}
	d := &broker.Delivery{Room: "bench", Channel: "fanout", SenderID: "publisher", Frame: make([]byte, 200)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Deliver(d)
	}
	b.ReportMetric(float64(subs)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
