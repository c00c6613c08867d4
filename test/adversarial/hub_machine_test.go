package adversarial

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// fakeSub is a hub subscriber that keeps every frame it is sent.
type fakeSub struct {
	id, tenant string
	mu         sync.Mutex
	frames     [][]byte
}

func (f *fakeSub) ID() string     { return f.id }
func (f *fakeSub) Tenant() string { return f.tenant }
func (f *fakeSub) Send(b []byte) bool {
	f.mu.Lock()
	f.frames = append(f.frames, b)
	f.mu.Unlock()
	return true
}

// delivery is what a client should see of one frame: which message, from
// whom, where.
type delivery struct{ id, sender, room, channel, toClient string }

// hubMachine drives a bus.Hub (through the real Publisher and memory broker)
// and keeps a model of it: who is connected, who is in which pair, and what
// each client must have received.
type hubMachine struct {
	hub *bus.Hub
	pub *bus.Publisher

	subs      map[string]*fakeSub // every client ever connected
	connected map[string]bool
	members   map[string]map[bus.Topic]bool // connected clients' pairs
	want      map[string][]delivery
	next      int
}

const machineMaxSubs = 3

var (
	machineTenants  = []string{"acme", "globex"}
	machineRooms    = []string{"a", "a:b", "b"}
	machineChannels = []string{"c", "b:c", "x"}
)

func newHubMachine() *hubMachine {
	h := bus.NewHub(machineMaxSubs)
	m := &hubMachine{
		hub:       h,
		pub:       bus.NewPublisher(bus.PublisherOptions{Hub: h, Broker: broker.NewMemory(h)}),
		subs:      map[string]*fakeSub{},
		connected: map[string]bool{},
		members:   map[string]map[bus.Topic]bool{},
		want:      map[string][]delivery{},
	}
	for _, tenant := range machineTenants {
		m.connect(tenant)
	}
	return m
}

func (m *hubMachine) connect(tenant string) {
	m.next++
	f := &fakeSub{id: fmt.Sprintf("client-%d", m.next), tenant: tenant}
	m.subs[f.id] = f
	m.connected[f.id] = true
	m.members[f.id] = map[bus.Topic]bool{}
	m.hub.Register(f)
}

// anyConnected draws a connected client, or skips the action.
func (m *hubMachine) anyConnected(t *rapid.T, label string) *fakeSub {
	ids := slices.Sorted(maps.Keys(m.connected))
	if len(ids) == 0 {
		t.Skip("nobody is connected")
	}
	return m.subs[rapid.SampledFrom(ids).Draw(t, label)]
}

func (m *hubMachine) drawTopic(t *rapid.T, tenant string) bus.Topic {
	return bus.Topic{Tenant: tenant,
		Room:    rapid.SampledFrom(machineRooms).Draw(t, "room"),
		Channel: rapid.SampledFrom(machineChannels).Draw(t, "channel")}
}

func (m *hubMachine) modelMembers(topic bus.Topic) []string {
	var ids []string
	for id, pairs := range m.members {
		if pairs[topic] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func codeOf(err error) protocol.Code {
	if err == nil {
		return ""
	}
	return protocol.AsWire(err).Code
}

func (m *hubMachine) Connect(t *rapid.T) {
	m.connect(rapid.SampledFrom(machineTenants).Draw(t, "tenant"))
}

func (m *hubMachine) Disconnect(t *rapid.T) {
	f := m.anyConnected(t, "client")
	m.hub.Unregister(f.id)
	delete(m.connected, f.id)
	delete(m.members, f.id)
}

func (m *hubMachine) Join(t *rapid.T) {
	f := m.anyConnected(t, "client")
	topic := m.drawTopic(t, f.tenant)
	n, err := m.hub.Join(f.id, topic)
	pairs := m.members[f.id]
	switch {
	case pairs[topic]:
		if err != nil {
			t.Fatalf("re-joining a held pair failed: %v", err)
		}
	case len(pairs) >= machineMaxSubs:
		if codeOf(err) != protocol.CodeLimitExceeded {
			t.Fatalf("join past the cap: got %v, want LIMIT_EXCEEDED", err)
		}
		return
	default:
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		pairs[topic] = true
	}
	if want := len(m.modelMembers(topic)); n != want {
		t.Fatalf("join reported %d members, the model has %d", n, want)
	}
}

func (m *hubMachine) JoinAfterDisconnecting(t *rapid.T) {
	var gone []string
	for id := range m.subs {
		if !m.connected[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		t.Skip("nobody has disconnected")
	}
	slices.Sort(gone)
	f := m.subs[rapid.SampledFrom(gone).Draw(t, "gone client")]
	if _, err := m.hub.Join(f.id, m.drawTopic(t, f.tenant)); codeOf(err) != protocol.CodeNotFound {
		t.Fatalf("a disconnected client joined: %v", err)
	}
}

func (m *hubMachine) Leave(t *rapid.T) {
	f := m.anyConnected(t, "client")
	topic := m.drawTopic(t, f.tenant)
	n, err := m.hub.Leave(f.id, topic)
	if !m.members[f.id][topic] {
		if codeOf(err) != protocol.CodeNotFound {
			t.Fatalf("leaving a pair not held: got %v, want NOT_FOUND", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("leave: %v", err)
	}
	delete(m.members[f.id], topic)
	if want := len(m.modelMembers(topic)); n != want {
		t.Fatalf("leave reported %d members, the model has %d", n, want)
	}
}

func (m *hubMachine) Publish(t *rapid.T) {
	from := m.anyConnected(t, "sender")
	topic := m.drawTopic(t, from.tenant)
	m.next++
	env := &protocol.Envelope{ID: fmt.Sprintf("m%d", m.next), Type: protocol.TypeMessage, Version: protocol.Version,
		Room: topic.Room, Channel: topic.Channel, Payload: []byte(`{}`)}
	res, err := m.pub.Publish(context.Background(), bus.Sender{ID: from.id, Tenant: from.tenant}, env)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	recipients := 0
	for _, id := range m.modelMembers(topic) {
		if id == from.id {
			continue // never its own
		}
		m.want[id] = append(m.want[id], delivery{id: env.ID, sender: from.id, room: topic.Room, channel: topic.Channel})
		recipients++
	}
	if res.Delivered != recipients {
		t.Fatalf("publish reported %d deliveries, the model expects %d", res.Delivered, recipients)
	}
}

func (m *hubMachine) DirectMessage(t *rapid.T) {
	from := m.anyConnected(t, "sender")
	to := m.subs[rapid.SampledFrom(slices.Sorted(maps.Keys(m.subs))).Draw(t, "target")]
	m.next++
	env := &protocol.Envelope{ID: fmt.Sprintf("m%d", m.next), Type: protocol.TypeMessage, Version: protocol.Version,
		ToClient: to.id, Payload: []byte(`{}`)}
	res, err := m.pub.Publish(context.Background(), bus.Sender{ID: from.id, Tenant: from.tenant}, env)
	if !m.connected[to.id] || to.tenant != from.tenant {
		if codeOf(err) != protocol.CodeNotFound {
			t.Fatalf("a direct message to a gone or other-tenant client: got %v, want NOT_FOUND", err)
		}
		return
	}
	if err != nil || res.Delivered != 1 {
		t.Fatalf("direct message: %d delivered, %v", res.Delivered, err)
	}
	m.want[to.id] = append(m.want[to.id], delivery{id: env.ID, sender: from.id, toClient: to.id})
}

// Check is the invariant: every client has received exactly the frames
// published to pairs it was in at publish time (and the direct messages to
// it), in order, never its own and never another tenant's; and the hub's
// membership and counts agree with the model.
func (m *hubMachine) Check(t *rapid.T) {
	for id, f := range m.subs {
		f.mu.Lock()
		frames := slices.Clone(f.frames)
		f.mu.Unlock()
		var got []delivery
		for _, b := range frames {
			env, err := protocol.Decode(b, protocol.Limits{MaxDepth: 32, ServerFrames: true})
			if err != nil {
				t.Fatalf("%s received an undecodable frame %s: %v", id, b, err)
			}
			if env.Sender != env.FromClient {
				t.Fatalf("sender %q and from_client %q differ", env.Sender, env.FromClient)
			}
			if m.subs[env.Sender].tenant != f.tenant {
				t.Fatalf("%s (%s) received a frame from tenant %s", id, f.tenant, m.subs[env.Sender].tenant)
			}
			got = append(got, delivery{id: env.ID, sender: env.Sender, room: env.Room, channel: env.Channel, toClient: env.ToClient})
		}
		if !slices.Equal(got, m.want[id]) {
			t.Fatalf("%s received %v, the model expects %v", id, got, m.want[id])
		}
	}
	if m.hub.Clients() != len(m.connected) {
		t.Fatalf("hub has %d clients, the model %d", m.hub.Clients(), len(m.connected))
	}
	for _, tenant := range machineTenants {
		var want []bus.ChannelInfo
		for _, room := range machineRooms {
			for _, channel := range machineChannels {
				topic := bus.Topic{Tenant: tenant, Room: room, Channel: channel}
				ids := m.modelMembers(topic)
				if got := m.hub.Members(topic); !slices.Equal(got, ids) {
					t.Fatalf("members of %v: hub %v, model %v", topic, got, ids)
				}
				if len(ids) > 0 {
					want = append(want, bus.ChannelInfo{Room: room, Channel: channel, Members: len(ids)})
				}
			}
		}
		slices.SortFunc(want, func(a, b bus.ChannelInfo) int {
			return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.Channel, b.Channel))
		})
		if got := m.hub.Channels(tenant, ""); !slices.Equal(got, want) {
			t.Fatalf("channels of %s: hub %v, model %v (pairs vanish with their last member; other tenants never show)", tenant, got, want)
		}
	}
	for id := range m.connected {
		var want []bus.Topic
		for topic := range m.members[id] {
			want = append(want, topic)
		}
		got := m.hub.Subscriptions(id)
		if len(got) != len(want) {
			t.Fatalf("%s: hub has %d subscriptions, the model %d", id, len(got), len(want))
		}
		for _, topic := range got {
			if !m.members[id][topic] {
				t.Fatalf("%s: hub lists %v, not in the model", id, topic)
			}
		}
	}
}

// Property: the hub delivers exactly what membership at publish time says,
// across two tenants whose rooms share names, under any sequence of
// connects, disconnects, joins, leaves and publishes.
func TestPropertyTheHubDeliversExactlyWhatMembershipAtPublishTimeSays(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(newHubMachine()))
	})
}
