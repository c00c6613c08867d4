package memstore

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// shardCount spreads keys over independently locked maps; a power of two so
// the shard is a mask of the hash.
const shardCount = 64

// DefaultMaxPerKey is the ring size used when New gets a non-positive size
// (ARQONBUS_MAX_HISTORY_SIZE's default).
const DefaultMaxPerKey = 10000

var (
	_ store.Store   = (*Store)(nil)
	_ store.Locator = (*Store)(nil)
)

// Options configure a Store. The zero value keeps DefaultMaxPerKey
// messages per key with no byte budget and no idle expiry.
type Options struct {
	// MaxPerKey is the ring size of one key (DefaultMaxPerKey when < 1).
	MaxPerKey int
	// MaxBytes bounds what the whole store holds, counted with store.Size;
	// when an Append passes it, the oldest messages of any key go first.
	// 0 = no bound.
	MaxBytes int64
	// TenantMaxBytes bounds what one tenant's keys hold together; when an
	// Append passes it, that tenant's oldest messages go first, so one
	// tenant cannot push the others' history out. 0 = no bound.
	TenantMaxBytes int64
	// TTL drops a key's history when nothing was appended to it for this
	// long: a sweep runs every TTL/10 (at least every minute) until Close.
	// 0 keeps rings until Close.
	TTL time.Duration
	// Clock is the time the idle sweep compares with. Default: time.Now.
	Clock func() time.Time
	// Metrics counts evictions (arqonbus_history_evicted_total). Default:
	// a private registry.
	Metrics *metrics.Metrics
}

// Store is an in-memory history store. The zero value is not usable; call New
// or NewWithOptions.
type Store struct {
	max    int
	seed   maphash.Seed
	budget *budget // nil: no byte limit
	ttl    time.Duration
	clock  func() time.Time
	m      *metrics.Metrics
	closed atomic.Bool
	stop   chan struct{} // closed by Close: ends the sweeper
	swept  sync.WaitGroup
	shards [shardCount]shard

	// usage holds each tenant's streams and bytes for Tenant. A ring keeps
	// its tenant's entry, so an Append only adds to an atomic; the lock
	// is taken when a ring is created or freed.
	usageMu sync.Mutex
	usage   map[string]*usage
}

// usage is one tenant's share of the store: its streams and their bytes.
type usage struct {
	streams atomic.Int64
	bytes   atomic.Int64
}

type shard struct {
	// streams, messages and bytes count the shard's rings, the messages
	// they hold and those messages' store.Size, for Streams, Messages and
	// Bytes; they share the lock's cache line, which every Append touches
	// anyway. They come first: 64-bit atomics at offset 0 need no
	// alignment padding on 32-bit platforms, which would otherwise push a
	// shard past 64 bytes there.
	streams  atomic.Int64
	messages atomic.Int64
	bytes    atomic.Int64
	mu       sync.RWMutex
	rings    map[store.Key]*ring
	_        [shardPad]byte // pads a shard to 64 bytes: neighbouring locks never share a cache line
}

// shardPad is what a shard's fields leave of 64 bytes: 8 where pointers
// take 8 bytes, 12 where they take 4. A map is one pointer (the ring type
// cannot be named here: it refers to shard).
const shardPad = 64 - (unsafe.Sizeof(sync.RWMutex{})+unsafe.Sizeof(uintptr(0))+3*unsafe.Sizeof(atomic.Int64{}))%64

// New returns a store that keeps the newest maxPerKey messages of every key
// (DefaultMaxPerKey when maxPerKey < 1), with no byte budget and no idle
// expiry.
func New(maxPerKey int) *Store { return NewWithOptions(Options{MaxPerKey: maxPerKey}) }

// NewWithOptions returns a store configured by o. With a TTL it starts the
// idle sweeper, which Close stops.
func NewWithOptions(o Options) *Store {
	if o.MaxPerKey < 1 {
		o.MaxPerKey = DefaultMaxPerKey
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	s := &Store{
		max: o.MaxPerKey, seed: maphash.MakeSeed(), budget: newBudget(o.MaxBytes, o.TenantMaxBytes),
		ttl: max(o.TTL, 0), clock: o.Clock, m: o.Metrics, stop: make(chan struct{}),
		usage: make(map[string]*usage),
	}
	for i := range s.shards {
		s.shards[i].rings = make(map[store.Key]*ring)
	}
	if s.ttl > 0 {
		s.swept.Add(1)
		go s.sweeper(min(max(s.ttl/10, time.Second), time.Minute))
	}
	return s
}

// Append stores a copy of env under key. The copy owns its raw JSON fields,
// so the caller may reuse env and its buffers as soon as Append returns.
// When the copy passes the tenant's share or the node's budget, older
// messages are evicted before Append returns; the new message itself is
// always kept, even when it alone is larger than a limit.
func (s *Store) Append(ctx context.Context, key store.Key, env *protocol.Envelope) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e := entry{env: *env}
	e.env.Payload, e.env.Args, e.env.Metadata = cloneRaw(env.Payload, env.Args, env.Metadata)
	e.env.Timestamp = env.Timestamp.Round(0) // drop any monotonic reading
	e.micros = e.env.Timestamp.UnixMicro()
	e.size = store.Size(&e.env)
	now := s.clock().UnixNano()
	sh := s.shardOf(key)
	var r *ring
	for {
		if r = s.ringIn(sh, key, true); r == nil {
			return store.ErrClosed
		}
		r.mu.Lock()
		if !r.dead {
			break
		}
		r.mu.Unlock() // emptied and taken out meanwhile: look again
	}
	var v victims
	if s.budget != nil {
		e.rec = &record{ring: r, size: int64(e.size)}
	}
	var replaced *record
	if r.n == s.max {
		old := r.at(0)
		replaced = old.rec
		sh.bytes.Add(int64(-old.size))
		r.use.bytes.Add(int64(-old.size))
	} else {
		sh.messages.Add(1)
	}
	r.push(e, s.max)
	sh.bytes.Add(int64(e.size))
	r.use.bytes.Add(int64(e.size))
	r.last = now
	if s.budget != nil {
		s.budget.add(e.rec, key.Tenant, replaced, &v)
		s.trim(r)
	}
	r.mu.Unlock()
	if len(v.records) > 0 {
		for _, rec := range v.records {
			if rec.ring != r {
				s.trimAndFree(rec.ring)
			}
		}
		s.m.HistoryEvicted.WithLabelValues(metrics.EvictTenantShare).Add(float64(v.tenantShare))
		s.m.HistoryEvicted.WithLabelValues(metrics.EvictNodeBudget).Add(float64(v.nodeBudget))
	}
	return nil
}

// trim drops r's oldest entries while the budget has marked them gone
// (they always form a prefix: both budget queues are in append order).
// Called with r.mu held.
func (s *Store) trim(r *ring) {
	for r.n > 0 {
		if rec := r.at(0).rec; rec == nil || !rec.gone.Load() {
			return
		}
		e := r.popOldest()
		r.sh.messages.Add(-1)
		r.sh.bytes.Add(int64(-e.size))
		r.use.bytes.Add(int64(-e.size))
	}
}

// trimAndFree trims r and, when that leaves it empty, takes it out of its
// shard.
func (s *Store) trimAndFree(r *ring) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.trim(r)
	if r.n == 0 {
		s.free(r)
	}
}

// free takes the empty ring r out of its shard and marks it dead. Called
// with r.mu held (lock order: a ring, then its shard).
func (s *Store) free(r *ring) {
	if r.dead {
		return
	}
	r.dead = true
	sh := r.sh
	sh.mu.Lock()
	if sh.rings != nil && sh.rings[r.key] == r {
		delete(sh.rings, r.key)
		sh.streams.Add(-1)
	}
	sh.mu.Unlock()
	s.usageMu.Lock()
	if r.use.streams.Add(-1) == 0 && s.usage[r.key.Tenant] == r.use {
		delete(s.usage, r.key.Tenant)
	}
	s.usageMu.Unlock()
}

// Tenant returns how many keys of tenant hold history and the store.Size
// of their messages together (0, 0 once closed): the tenant's part of
// Streams and Bytes.
func (s *Store) Tenant(tenant string) (streams, bytes int64) {
	if s.closed.Load() {
		return 0, 0
	}
	s.usageMu.Lock()
	u := s.usage[tenant]
	s.usageMu.Unlock()
	if u == nil {
		return 0, 0
	}
	return u.streams.Load(), u.bytes.Load()
}

// sweeper runs Sweep every interval until Close.
func (s *Store) sweeper(every time.Duration) {
	defer s.swept.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops every ring that had no append for the TTL and returns how
// many messages went. It does nothing without a TTL. The sweeper calls it;
// it is exported so that tests with their own clock need not wait.
func (s *Store) Sweep() int {
	if s.ttl <= 0 || s.closed.Load() {
		return 0
	}
	deadline := s.clock().Add(-s.ttl).UnixNano()
	dropped := 0
	var rings []*ring
	for i := range s.shards {
		sh := &s.shards[i]
		rings = rings[:0]
		sh.mu.RLock()
		for _, r := range sh.rings {
			rings = append(rings, r)
		}
		sh.mu.RUnlock()
		for _, r := range rings {
			dropped += s.dropIfIdle(r, deadline)
		}
	}
	s.m.HistoryEvicted.WithLabelValues(metrics.EvictIdle).Add(float64(dropped))
	return dropped
}

// dropIfIdle empties and frees r if its last append was at or before
// deadline (unix ns), returning how many messages it held that still
// counted.
func (s *Store) dropIfIdle(r *ring, deadline int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead || r.last > deadline {
		return 0
	}
	var recs []*record
	n := 0
	for r.n > 0 {
		e := r.popOldest()
		r.sh.messages.Add(-1)
		r.sh.bytes.Add(int64(-e.size))
		r.use.bytes.Add(int64(-e.size))
		if e.rec == nil || !e.rec.gone.Load() {
			n++ // a gone one was already counted under its own reason
		}
		if e.rec != nil {
			recs = append(recs, e.rec)
		}
	}
	if s.budget != nil {
		s.budget.drop(recs)
	}
	s.free(r)
	return n
}

// Streams returns how many keys hold history (0 once closed). It sums one
// counter per shard: cheap enough for every metrics scrape.
func (s *Store) Streams() int64 {
	return s.sum(func(sh *shard) int64 { return sh.streams.Load() })
}

// Messages returns how many messages all keys hold together (0 once
// closed).
func (s *Store) Messages() int64 {
	return s.sum(func(sh *shard) int64 { return sh.messages.Load() })
}

// Bytes returns the store.Size of all messages held together (0 once
// closed): what MaxBytes bounds.
func (s *Store) Bytes() int64 {
	return s.sum(func(sh *shard) int64 { return sh.bytes.Load() })
}

func (s *Store) sum(f func(*shard) int64) int64 {
	if s.closed.Load() {
		return 0
	}
	var n int64
	for i := range s.shards {
		n += f(&s.shards[i])
	}
	return n
}

// History returns the newest q.EffectiveLimit() messages inside q's bounds,
// oldest first, as copies that share nothing with the store.
func (s *Store) History(ctx context.Context, key store.Key, q store.Query) (store.Page, error) {
	if s.closed.Load() {
		return store.Page{}, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return store.Page{}, err
	}
	r := s.ring(key, false)
	if r == nil {
		// Nothing stored: an id bound cannot be found, anything else is
		// provably empty.
		complete := q.SinceID == "" && q.BeforeID == ""
		return store.Page{Messages: []protocol.Envelope{}, Complete: complete}, nil
	}
	r.mu.Lock()
	msgs, complete, truncated := r.query(q)
	r.mu.Unlock()
	copyOut(msgs)
	return store.Page{Messages: msgs, Complete: complete, Truncated: truncated}, nil
}

// Locate returns a copy of the message stored under key with the given id.
func (s *Store) Locate(ctx context.Context, key store.Key, id string) (protocol.Envelope, bool, error) {
	if s.closed.Load() {
		return protocol.Envelope{}, false, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return protocol.Envelope{}, false, err
	}
	r := s.ring(key, false)
	if r == nil || id == "" {
		return protocol.Envelope{}, false, nil
	}
	r.mu.Lock()
	i := r.find(id)
	var env protocol.Envelope
	if i >= 0 {
		env = r.at(i).env
	}
	r.mu.Unlock()
	if i < 0 {
		return protocol.Envelope{}, false, nil
	}
	one := []protocol.Envelope{env}
	copyOut(one)
	return one[0], true, nil
}

// Count returns how many messages key's ring holds (at most maxPerKey).
func (s *Store) Count(ctx context.Context, key store.Key) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := s.ring(key, false)
	if r == nil {
		return 0, nil
	}
	r.mu.Lock()
	n := r.n
	r.mu.Unlock()
	return int64(n), nil
}

// Ping answers nil until the store is closed: memory is always there.
func (s *Store) Ping(context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// Close stops the idle sweeper and drops every ring; later calls return
// store.ErrClosed. It is idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.swept.Wait()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.rings = nil
		sh.mu.Unlock()
	}
	return nil
}

// ring returns key's ring, creating it when create is set. It returns nil
// when the key has no ring (or the store closed meanwhile).
func (s *Store) ring(key store.Key, create bool) *ring {
	return s.ringIn(s.shardOf(key), key, create)
}

// ringIn is ring with key's shard already found.
func (s *Store) ringIn(sh *shard, key store.Key, create bool) *ring {
	sh.mu.RLock()
	r := sh.rings[key]
	sh.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.rings == nil { // closed
		return nil
	}
	if r = sh.rings[key]; r == nil {
		r = &ring{key: key, sh: sh, use: s.usageOf(key.Tenant)}
		sh.rings[key] = r
		sh.streams.Add(1)
	}
	return r
}

// usageOf returns tenant's usage entry with one more stream counted.
func (s *Store) usageOf(tenant string) *usage {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	u := s.usage[tenant]
	if u == nil {
		u = &usage{}
		s.usage[tenant] = u
	}
	u.streams.Add(1)
	return u
}

func (s *Store) shardOf(key store.Key) *shard {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(key.Tenant)
	h.WriteByte(0)
	h.WriteString(key.Room)
	h.WriteByte(0)
	h.WriteString(key.Channel)
	return &s.shards[h.Sum64()&(shardCount-1)]
}

// cloneRaw copies up to three raw JSON values into one allocation. Each
// result is capped to its length so an append by a reader cannot run into
// its neighbour. Empty values come back nil ("absent").
func cloneRaw(a, b, c []byte) (ra, rb, rc []byte) {
	n := len(a) + len(b) + len(c)
	if n == 0 {
		return nil, nil, nil
	}
	buf := make([]byte, n)
	cut := func(src []byte) []byte {
		if len(src) == 0 {
			return nil
		}
		k := copy(buf, src)
		out := buf[:k:k]
		buf = buf[k:]
		return out
	}
	return cut(a), cut(b), cut(c)
}

// copyOut gives every envelope in msgs its own copy of the raw JSON fields,
// all in one allocation, so callers may modify what History returns.
func copyOut(msgs []protocol.Envelope) {
	n := 0
	for i := range msgs {
		n += len(msgs[i].Payload) + len(msgs[i].Args) + len(msgs[i].Metadata)
	}
	if n == 0 {
		return
	}
	buf := make([]byte, 0, n)
	cut := func(src []byte) []byte {
		if src == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, src...)
		return buf[start:len(buf):len(buf)]
	}
	for i := range msgs {
		m := &msgs[i]
		m.Payload, m.Args, m.Metadata = cut(m.Payload), cut(m.Args), cut(m.Metadata)
	}
}
