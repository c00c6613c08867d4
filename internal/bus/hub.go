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
	tenants [shardCount]tenantShard
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

// tenantShard holds the tenants whose name hashes to it. Its lock guards
// the map and every tenant in it; it is taken inside a topic shard's lock,
// never the other way round, and never held while calling out.
type tenantShard struct {
	mu      sync.RWMutex
	tenants map[string]*tenantState
}

// tenantState is what the hub keeps per tenant so that the status and
// list_channels commands read only the caller's tenant: its client count,
// the live pairs of each of its rooms, and its pairs in (room, channel)
// order. A tenant with no client and no pair has no state.
type tenantState struct {
	clients int
	rooms   map[string]int // live pairs per room
	index   pairIndex
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
		h.tenants[i].tenants = make(map[string]*tenantState)
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
	h.updateTenant(sub.Tenant(), func(ts *tenantState) { ts.clients++ })
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
	h.updateTenant(m.sub.Tenant(), func(ts *tenantState) { ts.clients-- })
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
	fresh := tp == nil
	if fresh {
		tp = &topic{}
		s.topics[t] = tp
	}
	var next []*member
	if cur := tp.members.Load(); cur != nil {
		next = make([]*member, len(*cur), len(*cur)+1)
		copy(next, *cur)
	}
	next = append(next, m)
	tp.members.Store(&next)
	if fresh { // indexed once it has members: ListChannels reads them
		h.pairAppeared(t, tp)
	}
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
// member counts, sorted. Other tenants' pairs are never listed, nor walked;
// the cost is that of the tenant's own pairs. Commands page with
// ListChannels instead.
func (h *Hub) Channels(tenant, room string) []ChannelInfo {
	var out []ChannelInfo
	for {
		page := h.ListChannels(ChannelQuery{Tenant: tenant, Room: room, After: lastPair(out), Limit: 1024})
		out = append(out, page.Channels...)
		if !page.More {
			return out
		}
	}
}

func lastPair(list []ChannelInfo) *Pair {
	if len(list) == 0 {
		return nil
	}
	return &Pair{Room: list[len(list)-1].Room, Channel: list[len(list)-1].Channel}
}

// Pair is a (room, channel) within one tenant: a ListChannels cursor.
type Pair struct {
	Room    string
	Channel string
}

// ChannelQuery asks ListChannels for one page of a tenant's pairs.
type ChannelQuery struct {
	Tenant string
	// Room, when not empty, lists only this room's channels.
	Room string
	// After, when set, starts the page after this pair (it need not exist
	// any more); pairs are in (room, channel) order.
	After *Pair
	// Limit is the most pairs returned; below 1 returns none.
	Limit int
}

// ChannelPage is one page of ListChannels.
type ChannelPage struct {
	Channels []ChannelInfo
	// More says pairs follow the last one returned: ask again with After
	// set to it.
	More bool
}

// ListChannels returns up to q.Limit of q.Tenant's pairs after q.After, in
// (room, channel) order, with their member counts. It walks only the pairs
// it returns (plus a binary search), never another tenant's, so a caller
// cannot make it cost more than its limit. Safe for concurrent use; a page
// is consistent with itself but pairs may appear or vanish between pages.
func (h *Hub) ListChannels(q ChannelQuery) ChannelPage {
	var page ChannelPage
	if q.Limit < 1 {
		return page
	}
	s := h.tenantShard(q.Tenant)
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts := s.tenants[q.Tenant]
	if ts == nil {
		return page
	}
	page.Channels = make([]ChannelInfo, 0, min(q.Limit, ts.index.len))
	var c, i int
	switch {
	case q.After != nil && (q.Room == "" || q.After.Room >= q.Room):
		c, i = ts.index.seek(*q.After, false)
	default:
		c, i = ts.index.seek(Pair{Room: q.Room}, true)
	}
	for ; c < len(ts.index.chunks); c, i = c+1, 0 {
		for _, e := range ts.index.chunks[c][i:] {
			if q.Room != "" && e.Room != q.Room {
				return page
			}
			if len(page.Channels) == q.Limit {
				page.More = true
				return page
			}
			page.Channels = append(page.Channels, ChannelInfo{Room: e.Room, Channel: e.Channel, Members: len(*e.tp.members.Load())})
		}
	}
	return page
}

// TenantStats counts tenant's registered clients, its rooms with at least
// one member and its live pairs: the status command's view of one tenant.
// It reads three counters kept as clients come and go and pairs appear and
// vanish, so its cost does not depend on how many pairs exist.
func (h *Hub) TenantStats(tenant string) (clients, rooms, channels int) {
	s := h.tenantShard(tenant)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ts := s.tenants[tenant]; ts != nil {
		return ts.clients, len(ts.rooms), ts.index.len
	}
	return 0, 0, 0
}

func (h *Hub) tenantShard(tenant string) *tenantShard {
	return &h.tenants[maphash.String(h.seed, tenant)%shardCount]
}

// updateTenant applies f to tenant's state under its shard lock, creating
// the state first and dropping it once it holds no client and no pair.
func (h *Hub) updateTenant(tenant string, f func(*tenantState)) {
	s := h.tenantShard(tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tenants[tenant]
	if ts == nil {
		ts = &tenantState{rooms: make(map[string]int)}
		s.tenants[tenant] = ts
	}
	f(ts)
	if ts.clients == 0 && ts.index.len == 0 {
		delete(s.tenants, tenant)
	}
}

// pairAppeared and pairVanished keep the counts of Stats and TenantStats
// and the tenant's pair index; the caller holds t's topic shard lock.
func (h *Hub) pairAppeared(t Topic, tp *topic) {
	h.pairs.Add(1)
	h.updateTenant(t.Tenant, func(ts *tenantState) {
		ts.index.insert(indexEntry{Pair: Pair{Room: t.Room, Channel: t.Channel}, tp: tp})
		if ts.rooms[t.Room]++; ts.rooms[t.Room] == 1 {
			h.roomCount.Add(1)
		}
	})
}

func (h *Hub) pairVanished(t Topic) {
	h.pairs.Add(-1)
	h.updateTenant(t.Tenant, func(ts *tenantState) {
		ts.index.remove(Pair{Room: t.Room, Channel: t.Channel})
		if ts.rooms[t.Room]--; ts.rooms[t.Room] == 0 {
			delete(ts.rooms, t.Room)
			h.roomCount.Add(-1)
		}
	})
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

// pairIndex keeps one tenant's pairs sorted by (room, channel) in chunks
// of at most 2×indexChunk entries, so an insert or a removal moves at most
// one chunk and the chunk list, and a page is a binary search and a walk.
// Its owner's lock guards it.
type pairIndex struct {
	chunks [][]indexEntry // each sorted and non-empty, in order
	len    int
}

type indexEntry struct {
	Pair
	tp *topic
}

const indexChunk = 256

func comparePairs(a, b Pair) int {
	return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.Channel, b.Channel))
}

// seek returns the position of the first entry at or after p (inclusive)
// or after p (not inclusive): a chunk and an index in it, or
// (len(chunks), 0) when there is none.
func (x *pairIndex) seek(p Pair, inclusive bool) (chunk, i int) {
	past := func(e indexEntry) bool {
		c := comparePairs(e.Pair, p)
		return c > 0 || inclusive && c == 0
	}
	chunk, _ = slices.BinarySearchFunc(x.chunks, true, func(c []indexEntry, _ bool) int {
		if past(c[len(c)-1]) {
			return 1
		}
		return -1
	})
	if chunk == len(x.chunks) {
		return chunk, 0
	}
	i, _ = slices.BinarySearchFunc(x.chunks[chunk], true, func(e indexEntry, _ bool) int {
		if past(e) {
			return 1
		}
		return -1
	})
	return chunk, i
}

// insert adds e, whose pair is not in the index.
func (x *pairIndex) insert(e indexEntry) {
	x.len++
	if len(x.chunks) == 0 {
		x.chunks = [][]indexEntry{{e}}
		return
	}
	c, i := x.seek(e.Pair, true)
	if c == len(x.chunks) { // after every entry: the end of the last chunk
		c--
		i = len(x.chunks[c])
	}
	x.chunks[c] = slices.Insert(x.chunks[c], i, e)
	if n := len(x.chunks[c]); n > 2*indexChunk {
		tail := slices.Clone(x.chunks[c][n/2:])
		clear(x.chunks[c][n/2:])
		x.chunks[c] = x.chunks[c][:n/2]
		x.chunks = slices.Insert(x.chunks, c+1, tail)
	}
}

// remove deletes p's entry when there is one.
func (x *pairIndex) remove(p Pair) {
	c, i := x.seek(p, true)
	if c == len(x.chunks) || x.chunks[c][i].Pair != p {
		return
	}
	x.len--
	x.chunks[c] = slices.Delete(x.chunks[c], i, i+1)
	if len(x.chunks[c]) == 0 {
		x.chunks = slices.Delete(x.chunks, c, c+1)
		return
	}
	// A shrunk chunk merges with a neighbour when both fit in one, so
	// churn cannot leave the index as many tiny chunks.
	x.merge(c)
	x.merge(c - 1)
}

// merge joins chunk c and its successor when one of them is under half of
// indexChunk and together they hold at most indexChunk entries.
func (x *pairIndex) merge(c int) {
	if c < 0 || c+1 >= len(x.chunks) {
		return
	}
	a, b := len(x.chunks[c]), len(x.chunks[c+1])
	if min(a, b) >= indexChunk/2 || a+b > indexChunk {
		return
	}
	x.chunks[c] = append(x.chunks[c], x.chunks[c+1]...)
	x.chunks = slices.Delete(x.chunks, c+1, c+2)
}
