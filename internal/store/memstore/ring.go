package memstore

import (
	"sync"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// entry is one stored message. micros caches the timestamp (unix µs) and
// newest the largest timestamp stored up to and including this entry, so a
// backwards scan for SinceTime can stop as soon as nothing older can match.
type entry struct {
	env    protocol.Envelope
	micros int64
	newest int64
}

// ring holds the newest entries of one key. buf grows up to the store's
// maximum, then wraps: head is the index of the oldest entry once full.
type ring struct {
	mu   sync.Mutex
	buf  []entry
	head int
}

// initialRing is the first allocation of a ring (entries); rings of busy keys
// double from there up to the maximum, quiet keys stay small.
const initialRing = 16

func (r *ring) push(e entry, size int) {
	if n := len(r.buf); n > 0 {
		e.newest = max(e.micros, r.at(n-1).newest)
	} else {
		e.newest = e.micros
	}
	if len(r.buf) < size {
		if len(r.buf) == cap(r.buf) {
			grown := make([]entry, len(r.buf), min(size, max(initialRing, 2*cap(r.buf))))
			copy(grown, r.buf)
			r.buf = grown
		}
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.head] = e
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
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
	for i := len(r.buf) - 1; i >= 0; i-- {
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
// Bounds: an unknown SinceID is dropped and the page marked incomplete (the
// message was evicted or never stored, so everything held may follow it); an
// unknown BeforeID answers an empty, incomplete page (nothing held is provably
// before a message older than the ring, and a client paging backwards must
// not be sent back to the newest messages).
func (r *ring) query(q store.Query) ([]protocol.Envelope, bool) {
	limit := q.EffectiveLimit()
	lo, hi, complete := -1, len(r.buf), true
	if q.SinceID != "" {
		if lo = r.find(q.SinceID); lo < 0 {
			complete = false
		}
	}
	if q.BeforeID != "" {
		if hi = r.find(q.BeforeID); hi < 0 {
			return []protocol.Envelope{}, false
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
	for i := hi - 1; i > lo && len(out) < limit; i-- {
		e := r.at(i)
		if hasSince && e.newest <= since {
			break // nothing at or before i is newer than since
		}
		if hasSince && e.micros <= since || hasBefore && e.micros >= before {
			continue
		}
		out = append(out, e.env)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, complete
}
