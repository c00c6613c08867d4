package command

import (
	"fmt"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// readGate bounds the history reads of each tenant on this node, twice: the
// reads in flight at once, and the bytes read per second. A history read
// holds up to a send queue's worth of messages and keeps the backend busy
// while it runs; without a bound one tenant's connections could run as many
// at once, and as often, as they like and slow storage for everyone (Redis
// serves one command at a time). Frames of one connection are handled one
// after another, so one connection never has more than one read in flight;
// the bounds are on the tenant's connections together.
type readGate struct {
	limit int     // reads in flight; 0: no bound
	rate  float64 // bytes per second; 0: no bound
	now   func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantReads // absent when idle and the bucket is full
}

// tenantReads is one tenant's share: its reads in flight and a token bucket
// of bytes that holds at most one second's worth. A read is let in while the
// bucket is not empty and charged, when it answers, what it read; the bucket
// may go below zero by one page, which the tenant then waits out.
type tenantReads struct {
	inFlight int
	tokens   float64
	at       time.Time // when tokens was last brought up to date
}

// readRefusal says which bound refused a read.
type readRefusal int

const (
	readAdmitted readRefusal = iota
	readTooMany
	readTooFast
)

func newReadGate(limit, bytesPerSecond int, now func() time.Time) *readGate {
	if now == nil {
		now = time.Now
	}
	return &readGate{limit: limit, rate: float64(bytesPerSecond), now: now, tenants: make(map[string]*tenantReads)}
}

// enter takes one of tenant's read slots, or says which bound is full.
func (g *readGate) enter(tenant string) readRefusal {
	if g.limit <= 0 && g.rate <= 0 {
		return readAdmitted
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tenants[tenant]
	if t == nil {
		t = &tenantReads{tokens: g.rate, at: g.now()}
		g.tenants[tenant] = t
	}
	g.refill(t)
	switch {
	case g.limit > 0 && t.inFlight >= g.limit:
		return readTooMany
	case g.rate > 0 && t.tokens <= 0:
		return readTooFast
	}
	t.inFlight++
	return readAdmitted
}

// leave gives back the slot enter took and charges the bytes the read
// materialised.
func (g *readGate) leave(tenant string, bytes int) {
	if g.limit <= 0 && g.rate <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tenants[tenant]
	if t == nil {
		return
	}
	t.inFlight--
	g.refill(t)
	if g.rate > 0 {
		t.tokens -= float64(bytes)
	}
	if t.inFlight <= 0 && t.tokens >= g.rate {
		delete(g.tenants, tenant) // idle and owed nothing: nothing to remember
	}
}

// refill brings t's bucket up to date. Called with mu held.
func (g *readGate) refill(t *tenantReads) {
	now := g.now()
	if g.rate > 0 {
		t.tokens = min(g.rate, t.tokens+now.Sub(t.at).Seconds()*g.rate)
	}
	t.at = now
}

// refused is the error of a read over a bound.
func (g *readGate) refused(why readRefusal) error {
	if why == readTooFast {
		return protocol.NewError(protocol.CodeRateLimitExceeded, fmt.Sprintf(
			"your tenant has read more than %d bytes of history per second on this node (%s); retry in a second",
			int(g.rate), config.VarHistoryReadBytesRate))
	}
	return protocol.NewError(protocol.CodeRateLimitExceeded, fmt.Sprintf(
		"your tenant already has %d history reads running on this node (%s); retry when one has answered",
		g.limit, config.VarHistoryReadsTenant))
}
