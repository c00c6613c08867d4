package bus

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Subscriber is a connected client as the hub sees it.
type Subscriber interface {
	// ID is the client id (arq_client_…).
	ID() string
	// Tenant is the client's tenant ("" without auth).
	Tenant() string
	// Send enqueues one encoded frame without blocking. The frame is shared
	// with other subscribers and must not be modified. It returns false when
	// the frame was not accepted (queue overflow or closed connection); the
	// subscriber handles its own disconnect.
	Send(frame []byte) bool
}

// Topic is a tenant's (room, channel) pair.
type Topic struct {
	Tenant  string
	Room    string
	Channel string
}

// ChannelInfo describes one pair for list_channels.
type ChannelInfo struct {
	Room    string `json:"room"`
	Channel string `json:"channel"`
	Members int    `json:"members"`
}

const shardCount = 64

// Hub tracks clients and their (room, channel) memberships and fans frames
// out. Fan-out reads an immutable member list, so it holds no lock while it
// enqueues; joins and leaves copy the list under the shard lock.
type Hub struct {
	maxSubs int
	seed    maphash.Seed
	topics  [shardCount]topicShard
	clients [shardCount]clientShard
	rooms   [shardCount]roomShard
	count   atomic.Int64

	// pairs and roomCount are kept as pairs appear and vanish, so Stats
	// and the gauges that read it at every scrape never walk the maps.
	pairs     atomic.Int64
	roomCount atomic.Int64

	delivered prometheus.Counter // arqonbus_messages_delivered_total
}

type topicShard struct {
	mu     sync.RWMutex
	topics map[Topic]*topic
}

// roomShard counts the live pairs of each (tenant, room). It is locked
// inside a topic shard's lock, never the other way round.
type roomShard struct {
	mu    sync.Mutex
	pairs map[[2]string]int
}

type clientShard struct {
	mu      sync.RWMutex
	clients map[string]*member
}

type topic struct {
	members atomic.Pointer[[]*member] // immutable; replaced on join/leave
}

type member struct {
	id     string
	sub    Subscriber
	mu     sync.Mutex
	topics map[Topic]struct{}
	gone   bool
}

var _ broker.Local = (*Hub)(nil)

// HubOptions configures NewHubWith.
type HubOptions struct {
	// MaxSubscriptions caps the (room, channel) pairs of one client.
	MaxSubscriptions int
	// Metrics counts the frames fan-out enqueues
	// (arqonbus_messages_delivered_total). Default: a private registry.
	Metrics *metrics.Metrics
}

// NewHub returns an empty hub that counts on a private registry.
// maxSubscriptions caps pairs per client.
func NewHub(maxSubscriptions int) *Hub {
	return NewHubWith(HubOptions{MaxSubscriptions: maxSubscriptions})
}

// NewHubWith returns an empty hub configured by o.
func NewHubWith(o HubOptions) *Hub {
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	h := &Hub{maxSubs: o.MaxSubscriptions, seed: maphash.MakeSeed(), delivered: o.Metrics.MessagesDelivered}
	for i := range h.topics {
		h.topics[i].topics = make(map[Topic]*topic)
		h.clients[i].clients = make(map[string]*member)
		h.rooms[i].pairs = make(map[[2]string]int)
	}
	return h
}

func (h *Hub) topicShard(t Topic) *topicShard {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteString(t.Tenant)
	m.WriteByte(0)
	m.WriteString(t.Room)
	m.WriteByte(0)
	m.WriteString(t.Channel)
	return &h.topics[m.Sum64()%shardCount]
}

func (h *Hub) clientShard(id string) *clientShard {
	return &h.clients[maphash.String(h.seed, id)%shardCount]
}

// Register adds a connected client. Ids are unique per process.
func (h *Hub) Register(sub Subscriber) {
	s := h.clientShard(sub.ID())
	s.mu.Lock()
	s.clients[sub.ID()] = &member{id: sub.ID(), sub: sub, topics: make(map[Topic]struct{})}
	s.mu.Unlock()
	h.count.Add(1)
}

// Unregister removes a client and all its memberships.
func (h *Hub) Unregister(id string) {
	s := h.clientShard(id)
	s.mu.Lock()
	m, ok := s.clients[id]
	delete(s.clients, id)
	s.mu.Unlock()
	if !ok {
		return
	}
	h.count.Add(-1)
	m.mu.Lock()
	m.gone = true
	topics := make([]Topic, 0, len(m.topics))
	for t := range m.topics {
		topics = append(topics, t)
	}
	clear(m.topics)
	m.mu.Unlock()
	for _, t := range topics {
		h.removeMember(t, m)
	}
}

func (h *Hub) member(id string) *member {
	s := h.clientShard(id)
	s.mu.RLock()
	m := s.clients[id]
	s.mu.RUnlock()
	return m
}

// Clients returns the number of registered clients.
func (h *Hub) Clients() int { return int(h.count.Load()) }

// Join adds client id to t and returns the member count. Joining a pair
// twice is not an error.
func (h *Hub) Join(id string, t Topic) (int, error) {
	m := h.member(id)
	if m == nil {
		return 0, protocol.NewError(protocol.CodeNotFound, "client is not connected")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone {
		return 0, protocol.NewError(protocol.CodeNotFound, "client is not connected")
	}
	if _, ok := m.topics[t]; ok {
		return h.Count(t), nil
	}
	if len(m.topics) >= h.maxSubs {
		return 0, protocol.NewError(protocol.CodeLimitExceeded,
			"subscription limit reached; leave a channel first")
	}
	m.topics[t] = struct{}{}
	return h.addMember(t, m), nil
}

// Leave removes client id from t and returns the remaining member count.
func (h *Hub) Leave(id string, t Topic) (int, error) {
	m := h.member(id)
	if m == nil {
		return 0, protocol.NewError(protocol.CodeNotFound, "client is not connected")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.topics[t]; !ok {
		return 0, protocol.NewError(protocol.CodeNotFound, "not a member of this room and channel")
	}
	delete(m.topics, t)
	return h.removeMember(t, m), nil
}

func (h *Hub) addMember(t Topic, m *member) int {
	s := h.topicShard(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.topics[t]
	if tp == nil {
		tp = &topic{}
		s.topics[t] = tp
		h.pairAppeared(t)
	}
	var next []*member
	if cur := tp.members.Load(); cur != nil {
		next = make([]*member, len(*cur), len(*cur)+1)
		copy(next, *cur)
	}
	next = append(next, m)
	tp.members.Store(&next)
	return len(next)
}

func (h *Hub) removeMember(t Topic, m *member) int {
	s := h.topicShard(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := s.topics[t]
	if tp == nil {
		return 0
	}
	cur := *tp.members.Load()
	i := slices.Index(cur, m)
	if i < 0 {
		return len(cur)
	}
	if len(cur) == 1 {
		delete(s.topics, t) // a pair vanishes with its last member
		h.pairVanished(t)
		return 0
	}
	next := make([]*member, 0, len(cur)-1)
	next = append(next, cur[:i]...)
	next = append(next, cur[i+1:]...)
	tp.members.Store(&next)
	return len(next)
}

func (h *Hub) list(t Topic) []*member {
	s := h.topicShard(t)
	s.mu.RLock()
	tp := s.topics[t]
	s.mu.RUnlock()
	if tp == nil {
		return nil
	}
	return *tp.members.Load()
}

// Count returns the number of members of t.
func (h *Hub) Count(t Topic) int { return len(h.list(t)) }

// IsMember reports whether client id is in t.
func (h *Hub) IsMember(id string, t Topic) bool {
	return slices.ContainsFunc(h.list(t), func(m *member) bool { return m.id == id })
}

// Members returns the client ids in t, sorted.
func (h *Hub) Members(t Topic) []string {
	list := h.list(t)
	ids := make([]string, len(list))
	for i, m := range list {
		ids[i] = m.id
	}
	slices.Sort(ids)
	return ids
}

// Subscriptions returns the pairs client id is in, sorted.
func (h *Hub) Subscriptions(id string) []Topic {
	m := h.member(id)
	if m == nil {
		return nil
	}
	m.mu.Lock()
	out := make([]Topic, 0, len(m.topics))
	for t := range m.topics {
		out = append(out, t)
	}
	m.mu.Unlock()
	slices.SortFunc(out, compareTopics)
	return out
}

// Channels lists tenant's pairs (of room when room is not empty) with their
// member counts, sorted. Other tenants' pairs are never listed.
func (h *Hub) Channels(tenant, room string) []ChannelInfo {
	var out []ChannelInfo
	for i := range h.topics {
		s := &h.topics[i]
		s.mu.RLock()
		for t, tp := range s.topics {
			if t.Tenant != tenant || (room != "" && t.Room != room) {
				continue
			}
			out = append(out, ChannelInfo{Room: t.Room, Channel: t.Channel, Members: len(*tp.members.Load())})
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b ChannelInfo) int {
		return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.Channel, b.Channel))
	})
	return out
}

// pairAppeared and pairVanished keep the counts of Stats; the caller holds
// t's topic shard lock.
func (h *Hub) pairAppeared(t Topic) {
	h.pairs.Add(1)
	r, s := h.roomShard(t)
	s.mu.Lock()
	s.pairs[r]++
	if s.pairs[r] == 1 {
		h.roomCount.Add(1)
	}
	s.mu.Unlock()
}

func (h *Hub) pairVanished(t Topic) {
	h.pairs.Add(-1)
	r, s := h.roomShard(t)
	s.mu.Lock()
	if s.pairs[r]--; s.pairs[r] == 0 {
		delete(s.pairs, r)
		h.roomCount.Add(-1)
	}
	s.mu.Unlock()
}

func (h *Hub) roomShard(t Topic) ([2]string, *roomShard) {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteString(t.Tenant)
	m.WriteByte(0)
	m.WriteString(t.Room)
	return [2]string{t.Tenant, t.Room}, &h.rooms[m.Sum64()%shardCount]
}

// Stats counts distinct rooms and pairs across all tenants. It reads two
// counters and is cheap enough for every metrics scrape.
func (h *Hub) Stats() (rooms, channels int) {
	return h.RoomCount(), h.PairCount()
}

// RoomCount is the number of distinct (tenant, room) with at least one
// member (Stats' rooms).
func (h *Hub) RoomCount() int { return int(h.roomCount.Load()) }

// PairCount is the number of live (tenant, room, channel) pairs (Stats'
// channels).
func (h *Hub) PairCount() int { return int(h.pairs.Load()) }

// HasClient reports whether a client of tenant is connected to this hub.
func (h *Hub) HasClient(tenant, id string) bool {
	m := h.member(id)
	return m != nil && m.sub.Tenant() == tenant
}

// EachClient calls f for every registered client. f must not call back into
// the hub's registration methods.
func (h *Hub) EachClient(f func(tenant, id string)) {
	for i := range h.clients {
		s := &h.clients[i]
		s.mu.RLock()
		for id, m := range s.clients {
			f(m.sub.Tenant(), id)
		}
		s.mu.RUnlock()
	}
}

// Deliver enqueues d.Frame to its recipients: every member of the pair but
// the sender, or the one direct target of the same tenant. It returns the
// number of frames enqueued, which is what it counts; a refused frame is
// the subscriber's to count (it closes itself as a slow consumer).
func (h *Hub) Deliver(d *broker.Delivery) int {
	delivered := 0
	if d.Direct() {
		if m := h.member(d.ToClient); m != nil && m.sub.Tenant() == d.Tenant && m.sub.Send(d.Frame) {
			delivered++
		}
	} else {
		for _, m := range h.list(Topic{Tenant: d.Tenant, Room: d.Room, Channel: d.Channel}) {
			if m.id != d.SenderID && m.sub.Send(d.Frame) {
				delivered++
			}
		}
	}
	if delivered > 0 {
		h.delivered.Add(float64(delivered))
	}
	return delivered
}

func compareTopics(a, b Topic) int {
	return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Room, b.Room), cmp.Compare(a.Channel, b.Channel))
}
