package memstore

import (
	"sync"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// entry is one stored message. micros caches the timestamp (unix µs) and
// newest the largest timestamp stored up to and including this entry, so a
// backwards scan for SinceTime can stop as soon as nothing older can match.
// size is store.Size of env, what byte budgets and Query.MaxBytes count;
// rec is the budget's record of it (nil when the store has no budget).
type entry struct {
	env    protocol.Envelope
	micros int64
	newest int64
	size   int
	rec    *record
}

// ring holds the newest entries of one key, oldest at head, n of them in a
// circular buffer that grows up to the store's maximum. The budget and the
// idle sweep remove entries from the old end; a ring left empty is taken
// out of its shard and marked dead, so an Append that found it before
// looks again.
type ring struct {
	mu   sync.Mutex
	buf  []entry
	head int
	n    int
	last int64 // unix ns of the last append, for the idle sweep
	dead bool

	key store.Key // for taking it out of its shard
	sh  *shard
	use *usage // its tenant's
}

// initialRing is the first allocation of a ring (entries); rings of busy keys
// double from there up to the maximum, quiet keys stay small. It is small
// because an entry is some 400 bytes before its payload, which the byte
// budget does not see: rooms holding one message each must cost about
// one entry, not a block of empty ones.
const initialRing = 2

// push appends e, overwriting the oldest entry when the ring holds size
// entries already.
func (r *ring) push(e entry, size int) {
	if r.n > 0 {
		e.newest = max(e.micros, r.at(r.n-1).newest)
	} else {
		e.newest = e.micros
	}
	if r.n == size {
		r.buf[r.head] = e
		r.head++
		if r.head == len(r.buf) {
			r.head = 0
		}
		return
	}
	if r.n == len(r.buf) {
		r.resize(min(size, max(initialRing, 2*len(r.buf))))
	}
	r.n++
	*r.at(r.n - 1) = e
}

// resize moves the entries, oldest first, into a buffer of c entries.
func (r *ring) resize(c int) {
	grown := make([]entry, c)
	for i := range r.n {
		grown[i] = *r.at(i)
	}
	r.buf, r.head = grown, 0
}

// popOldest removes the oldest entry, releasing its fields, and shrinks a
// buffer left mostly empty so a ring that was once busy does not keep its
// peak allocation.
func (r *ring) popOldest() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{}
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	if r.n == 0 {
		r.head = 0
	}
	if len(r.buf) > initialRing && r.n < len(r.buf)/4 {
		r.resize(max(initialRing, len(r.buf)/2))
	}
	return e
}

// at returns the i-th oldest entry (0 = oldest).
func (r *ring) at(i int) *entry {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// find returns the position of the newest entry with id, or -1. It scans
// from the newest end, where bounds of live clients usually are.
func (r *ring) find(id string) int {
	for i := r.n - 1; i >= 0; i-- {
		if r.at(i).env.ID == id {
			return i
		}
	}
	return -1
}

// query collects the newest matching entries, oldest first, sharing raw
// fields with the ring (the caller copies them out after unlocking). Times
// compare at the microsecond precision the wire carries.
//
// A positive q.MaxBytes stops the collection before the sum of the entries'
// sizes would pass it; the newest matching entry is always kept, and
// truncated reports that an older matching entry was left out.
//
// Bounds: an unknown SinceID is dropped and the page marked incomplete (the
// message was evicted or never stored, so everything held may follow it); an
// unknown BeforeID answers an empty, incomplete page (nothing held is provably
// before a message older than the ring, and a client paging backwards must
// not be sent back to the newest messages).
func (r *ring) query(q store.Query) (msgs []protocol.Envelope, complete, truncated bool) {
	limit := q.EffectiveLimit()
	lo, hi := -1, r.n
	complete = true
	if q.SinceID != "" {
		if lo = r.find(q.SinceID); lo < 0 {
			complete = false
		}
	}
	if q.BeforeID != "" {
		if hi = r.find(q.BeforeID); hi < 0 {
			return []protocol.Envelope{}, false, false
		}
	}
	since, before := int64(0), int64(0)
	hasSince, hasBefore := !q.SinceTime.IsZero(), !q.BeforeTime.IsZero()
	if hasSince {
		since = q.SinceTime.UnixMicro()
	}
	if hasBefore {
		before = q.BeforeTime.UnixMicro()
	}
	out := make([]protocol.Envelope, 0, min(limit, max(hi-lo-1, 0)))
	bytes := 0
	for i := hi - 1; i > lo && len(out) < limit; i-- {
		e := r.at(i)
		if hasSince && e.newest <= since {
			break // nothing at or before i is newer than since
		}
		if hasSince && e.micros <= since || hasBefore && e.micros >= before {
			continue
		}
		if q.MaxBytes > 0 && len(out) > 0 && bytes+e.size > q.MaxBytes {
			truncated = true
			break
		}
		bytes += e.size
		out = append(out, e.env)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, complete, truncated
}
