package memstore

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"

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

// Store is an in-memory history store. The zero value is not usable; call New.
type Store struct {
	max    int
	seed   maphash.Seed
	closed atomic.Bool
	shards [shardCount]shard
}

type shard struct {
	// streams and messages count the shard's rings and the messages they
	// hold, for Streams and Messages; they share the lock's cache line,
	// which every Append touches anyway. They come first: 64-bit atomics
	// at offset 0 need no alignment padding on 32-bit platforms, which
	// would otherwise push a shard past 64 bytes there.
	streams  atomic.Int64
	messages atomic.Int64
	mu       sync.RWMutex
	rings    map[store.Key]*ring
	_        [shardPad]byte // pads a shard to 64 bytes: neighbouring locks never share a cache line
}

// shardPad is what a shard's fields leave of 64 bytes: 16 where pointers
// take 8 bytes, 20 where they take 4.
const shardPad = 64 - (unsafe.Sizeof(sync.RWMutex{})+unsafe.Sizeof(map[store.Key]*ring(nil))+2*unsafe.Sizeof(atomic.Int64{}))%64

// New returns a store that keeps the newest maxPerKey messages of every key
// (DefaultMaxPerKey when maxPerKey < 1).
func New(maxPerKey int) *Store {
	if maxPerKey < 1 {
		maxPerKey = DefaultMaxPerKey
	}
	s := &Store{max: maxPerKey, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].rings = make(map[store.Key]*ring)
	}
	return s
}

// Append stores a copy of env under key. The copy owns its raw JSON fields,
// so the caller may reuse env and its buffers as soon as Append returns.
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
	sh := s.shardOf(key)
	r := s.ringIn(sh, key, true)
	if r == nil {
		return store.ErrClosed
	}
	r.mu.Lock()
	if len(r.buf) < s.max {
		sh.messages.Add(1) // else the oldest message makes room
	}
	r.push(e, s.max)
	r.mu.Unlock()
	return nil
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
	msgs, complete := r.query(q)
	r.mu.Unlock()
	copyOut(msgs)
	return store.Page{Messages: msgs, Complete: complete}, nil
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
	n := len(r.buf)
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

// Close drops every ring; later calls return store.ErrClosed. It is
// idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
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
		r = &ring{}
		sh.rings[key] = r
		sh.streams.Add(1)
	}
	return r
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
