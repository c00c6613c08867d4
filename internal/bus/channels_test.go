package bus_test

import (
	"sync"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/metrics"
)

// sink is a Subscriber that keeps the frames it is sent, or refuses them
// like a full queue when full is set.
type sink struct {
	id, tenant string
	full       bool
	mu         sync.Mutex
	frames     []string
}

func (s *sink) ID() string     { return s.id }
func (s *sink) Tenant() string { return s.tenant }
func (s *sink) Send(f []byte) bool {
	if s.full {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, string(f))
	return true
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.frames...)
}

// connect registers a client of tenant and joins it to each topic.
func connect(t testing.TB, h *bus.Hub, id, tenant string, topics ...bus.Topic) *sink {
	t.Helper()
	s := &sink{id: id, tenant: tenant}
	h.Register(s)
	for _, top := range topics {
		_, err := h.Join(id, top)
		require.NoError(t, err)
	}
	return s
}

func TestChannelsListsOnlyTheAskedRoomOfTheAskedTenant(t *testing.T) {
	h := bus.NewHub(8)
	connect(t, h, "a1", "acme",
		bus.Topic{Tenant: "acme", Room: "science", Channel: "explore"},
		bus.Topic{Tenant: "acme", Room: "science", Channel: "lab"},
		bus.Topic{Tenant: "acme", Room: "ops", Channel: "alerts"})
	connect(t, h, "a2", "acme", bus.Topic{Tenant: "acme", Room: "science", Channel: "lab"})
	connect(t, h, "g1", "globex",
		bus.Topic{Tenant: "globex", Room: "science", Channel: "secret"},
		bus.Topic{Tenant: "globex", Room: "hr", Channel: "pay"})

	for _, c := range []struct {
		name, tenant, room string
		want               []bus.ChannelInfo
	}{
		{"a room lists its own channels only", "acme", "science", []bus.ChannelInfo{
			{Room: "science", Channel: "explore", Members: 1},
			{Room: "science", Channel: "lab", Members: 2},
		}},
		{"another room of the same tenant lists its own", "acme", "ops", []bus.ChannelInfo{
			{Room: "ops", Channel: "alerts", Members: 1},
		}},
		{"no room lists every room of the tenant, sorted", "acme", "", []bus.ChannelInfo{
			{Room: "ops", Channel: "alerts", Members: 1},
			{Room: "science", Channel: "explore", Members: 1},
			{Room: "science", Channel: "lab", Members: 2},
		}},
		{"a room both tenants use shows only the asking tenant's channels", "globex", "science", []bus.ChannelInfo{
			{Room: "science", Channel: "secret", Members: 1},
		}},
		{"a room of another tenant is empty", "acme", "hr", nil},
		{"a tenant with no clients has nothing", "initech", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, h.Channels(c.tenant, c.room))
		})
	}
}

func TestHasClientIsTrueOnlyForAConnectedClientOfTheSameTenant(t *testing.T) {
	h := bus.NewHub(8)
	connect(t, h, "a1", "acme")
	assert.True(t, h.HasClient("acme", "a1"))
	assert.False(t, h.HasClient("globex", "a1"), "another tenant's client")
	assert.False(t, h.HasClient("acme", "nobody"), "no such client")
	h.Unregister("a1")
	assert.False(t, h.HasClient("acme", "a1"), "a client that left")
}

func TestADirectMessageReachesItsTargetOfTheSameTenantOnly(t *testing.T) {
	h := bus.NewHub(8)
	a := connect(t, h, "a1", "acme")
	g := connect(t, h, "g1", "globex")

	assert.Equal(t, 1, h.Deliver(&broker.Delivery{Tenant: "acme", ToClient: "a1", SenderID: "a2", Frame: []byte("dm")}))
	assert.Equal(t, []string{"dm"}, a.got())

	assert.Equal(t, 0, h.Deliver(&broker.Delivery{Tenant: "acme", ToClient: "g1", Frame: []byte("across")}))
	assert.Empty(t, g.got(), "a direct message never crosses tenants")
	assert.Equal(t, 0, h.Deliver(&broker.Delivery{Tenant: "acme", ToClient: "gone", Frame: []byte("lost")}))
}

func TestADirectMessageToAFullQueueIsNotCountedAsDelivered(t *testing.T) {
	m := metrics.New(nil)
	h := bus.NewHubWith(bus.HubOptions{MaxSubscriptions: 8, Metrics: m})
	connect(t, h, "a1", "acme").full = true
	assert.Equal(t, 0, h.Deliver(&broker.Delivery{Tenant: "acme", ToClient: "a1", Frame: []byte("dm")}))
	assert.Zero(t, promtest.ToFloat64(m.MessagesDelivered))
}

func TestSubscriptionsListAClientsPairsSorted(t *testing.T) {
	h := bus.NewHub(8)
	lab := bus.Topic{Tenant: "acme", Room: "science", Channel: "lab"}
	alerts := bus.Topic{Tenant: "acme", Room: "ops", Channel: "alerts"}
	connect(t, h, "a1", "acme", lab, alerts)
	assert.Equal(t, []bus.Topic{alerts, lab}, h.Subscriptions("a1"))
	assert.True(t, h.IsMember("a1", lab))
	assert.False(t, h.IsMember("a2", lab))
	assert.Nil(t, h.Subscriptions("nobody"), "an unknown client has none")
}
