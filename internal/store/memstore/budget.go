package memstore

import (
	"sync"
	"sync/atomic"
)

// record is the budget's view of one stored message. The ring entry and
// the budget's queues point at the same record; gone is set once, under
// budget.mu, when the message stops counting (the ring may drop the entry a
// moment later), and read under the ring's lock, hence the atomic.
type record struct {
	ring   *ring
	tenant *tenantUse
	size   int64
	gone   atomic.Bool
}

// budget enforces the byte limits. It keeps every counted message twice in
// append order: once in a queue of the whole store and once in its tenant's
// queue, so the oldest message of either is at a queue's head. A message
// that leaves by another way (its ring full, its key idle, the other
// queue's eviction) is only marked gone; queues skip gone heads and compact
// when gone records outnumber live ones, so they stay O(live messages).
//
// Lock order: a ring's mu, then budget.mu. Eviction only marks records
// under budget.mu; the caller drops the entries from their rings after
// releasing it, so budget.mu is never held while waiting for a ring.
type budget struct {
	node, share int64 // limits; 0 = none

	mu      sync.Mutex
	bytes   int64
	all     queue
	tenants map[string]*tenantUse
}

type tenantUse struct {
	name  string
	bytes int64
	q     queue
}

func newBudget(node, share int64) *budget {
	if node <= 0 && share <= 0 {
		return nil
	}
	return &budget{node: node, share: share, tenants: make(map[string]*tenantUse)}
}

// victims counts what one add evicted, by reason, and lists the records
// whose rings must drop them.
type victims struct {
	records     []*record
	tenantShare int
	nodeBudget  int
}

// add counts rec (a message of tenant just pushed to its ring) and, if the
// tenant's share or the node budget is now passed, marks the oldest
// messages gone until both hold again. rec itself is never evicted: a
// message larger than a limit is kept alone, so the newest message of a
// key is always readable. replaced, when not nil, is the message rec
// pushed out of a full ring; it stops counting here.
func (b *budget) add(rec *record, tenant string, replaced *record, v *victims) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if replaced != nil && !replaced.gone.Load() {
		b.forget(replaced)
	}
	t := b.tenants[tenant]
	if t == nil {
		t = &tenantUse{name: tenant}
		b.tenants[tenant] = t
	}
	rec.tenant = t
	t.bytes += rec.size
	b.bytes += rec.size
	t.q.push(rec)
	b.all.push(rec)
	for b.share > 0 && t.bytes > b.share {
		old := t.q.oldest()
		if old == rec {
			break
		}
		b.forget(old)
		v.records = append(v.records, old)
		v.tenantShare++
	}
	for b.node > 0 && b.bytes > b.node {
		old := b.all.oldest()
		if old == rec {
			break
		}
		b.forget(old)
		v.records = append(v.records, old)
		v.nodeBudget++
	}
}

// drop stops counting recs, the messages of a ring dropped whole.
func (b *budget) drop(recs []*record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		if r != nil && !r.gone.Load() {
			b.forget(r)
		}
	}
}

// forget marks r gone and takes it off the counts. Called with b.mu held.
func (b *budget) forget(r *record) {
	r.gone.Store(true)
	t := r.tenant
	t.bytes -= r.size
	b.bytes -= r.size
	t.q.live--
	b.all.live--
	if t.q.live == 0 && b.tenants[t.name] == t {
		delete(b.tenants, t.name) // its queue holds only gone records
	}
}

// queue is a FIFO of records; live counts those not gone.
type queue struct {
	items []*record
	head  int
	live  int
}

func (q *queue) push(r *record) {
	stale := len(q.items) - q.head - q.live
	if stale > 64 && stale > q.live || q.head > 64 && q.head > len(q.items)/2 {
		q.compact()
	}
	q.items = append(q.items, r)
	q.live++
}

// oldest returns the oldest live record (nil when none), dropping the gone
// ones in front of it.
func (q *queue) oldest() *record {
	for q.head < len(q.items) {
		r := q.items[q.head]
		if !r.gone.Load() {
			return r
		}
		q.items[q.head] = nil
		q.head++
	}
	q.items, q.head = q.items[:0], 0
	return nil
}

// compact keeps only the live records, in order, in a fresh slice so the
// old backing array (and the gone records it pins) can be collected.
func (q *queue) compact() {
	kept := make([]*record, 0, max(q.live*2, 16))
	for _, r := range q.items[q.head:] {
		if !r.gone.Load() {
			kept = append(kept, r)
		}
	}
	q.items, q.head = kept, 0
}
