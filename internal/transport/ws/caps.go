package ws

import (
	"net"
	"sync"

	"golang.org/x/time/rate"

	"github.com/arqonbus/arqonbus/internal/auth"
)

// Caps are the fair shares of the connection cap. A connection with a token
// identity counts against its tenant and its (tenant, sub); one without
// counts against its remote IP. Zero turns a cap off.
type Caps struct {
	PerTenant  int // ARQONBUS_MAX_CONNECTIONS_PER_TENANT
	PerSubject int // ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT
	PerAddress int // ARQONBUS_MAX_CONNECTIONS_PER_ADDRESS
	// TenantRate bounds the frames per second of all of one tenant's
	// connections together (identified connections only, and only while
	// the per-connection rate limit is on); its bucket holds one second.
	// ARQONBUS_TENANT_RATE_LIMIT_PER_SECOND.
	TenantRate int
}

// capRefusal is which cap refused a handshake.
type capRefusal int

const (
	admitted capRefusal = iota
	overGlobal
	overTenant
	overSubject
	overAddress
)

// subjectKey names one subject of one tenant: sub values of two tenants
// are different people.
type subjectKey struct{ tenant, subject string }

// slot is what an admitted connection holds and gives back when it ends.
// It carries strings the identity and the request already hold, so
// admitting allocates nothing but a map entry for a key not yet present.
type slot struct {
	identified bool   // counted per tenant and subject, not per address
	tenant     string // identified only
	subject    string // identified only
	address    string // remote IP; unidentified only, "" when not counted
}

// admission counts open connections against every cap under one mutex, so
// the check and the increment are one step: no two handshakes can both see
// the last free place. The global count lives in Server.active so that
// Connections reads it without the lock; it changes only under mu.
type admission struct {
	mu        sync.Mutex
	tenants   map[string]int
	subjects  map[subjectKey]int
	addresses map[string]int
	// rates are the shared frame buckets of tenants with an open
	// identified connection, while Caps.TenantRate is on.
	rates map[string]*tenantRate
}

// tenantRate is one tenant's shared frame bucket and how many of its
// connections hold it.
type tenantRate struct {
	lim  *rate.Limiter
	refs int
}

func newAdmission() *admission {
	return &admission{
		tenants:   make(map[string]int),
		subjects:  make(map[subjectKey]int),
		addresses: make(map[string]int),
		rates:     make(map[string]*tenantRate),
	}
}

// slotFor is the slot a handshake asks for: per tenant and subject when
// authentication gave it an identity, per remote IP otherwise (only when
// that cap is on, so the address is not even parsed when it is off).
func (s *Server) slotFor(ident auth.Identity, remoteAddr string) slot {
	if s.o.Verifier != nil {
		return slot{identified: true, tenant: ident.Tenant, subject: ident.Subject}
	}
	if s.o.Caps.PerAddress <= 0 {
		return slot{}
	}
	return slot{address: remoteIP(remoteAddr)}
}

// remoteIP is the host part of an http.Request RemoteAddr (an IPv6
// address as written, without brackets); the whole value when it has no
// port.
func remoteIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// admit takes sl's place under every cap, or says which cap is full and
// takes nothing. The global cap is checked first: a full node is full for
// everyone. The subject before the tenant: a subject at its own cap is
// told what it can fix itself.
func (s *Server) admit(sl slot) capRefusal {
	a, c := s.admission, s.o.Caps
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.active.Load() >= int64(s.o.MaxConnections) {
		return overGlobal
	}
	if sl.identified {
		key := subjectKey{sl.tenant, sl.subject}
		if c.PerSubject > 0 && a.subjects[key] >= c.PerSubject {
			return overSubject
		}
		if c.PerTenant > 0 && a.tenants[sl.tenant] >= c.PerTenant {
			return overTenant
		}
		a.subjects[key]++
		a.tenants[sl.tenant]++
		if c.TenantRate > 0 {
			tr := a.rates[sl.tenant]
			if tr == nil {
				tr = &tenantRate{lim: rate.NewLimiter(rate.Limit(c.TenantRate), c.TenantRate)}
				a.rates[sl.tenant] = tr
			}
			tr.refs++
		}
	} else if sl.address != "" {
		if a.addresses[sl.address] >= c.PerAddress {
			return overAddress
		}
		a.addresses[sl.address]++
	}
	s.active.Add(1)
	return admitted
}

// release gives back what admit took for sl. Entries that reach zero are
// deleted, so the maps hold only tenants, subjects and addresses with an
// open connection.
func (s *Server) release(sl slot) {
	a := s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	if sl.identified {
		key := subjectKey{sl.tenant, sl.subject}
		if a.subjects[key]--; a.subjects[key] <= 0 {
			delete(a.subjects, key)
		}
		if a.tenants[sl.tenant]--; a.tenants[sl.tenant] <= 0 {
			delete(a.tenants, sl.tenant)
		}
		if tr := a.rates[sl.tenant]; tr != nil {
			if tr.refs--; tr.refs <= 0 {
				delete(a.rates, sl.tenant)
			}
		}
	} else if sl.address != "" {
		if a.addresses[sl.address]--; a.addresses[sl.address] <= 0 {
			delete(a.addresses, sl.address)
		}
	}
	s.active.Add(-1)
}

// tenantLimiter is the shared frame bucket of an admitted slot's tenant,
// or nil when the slot has none (no identity, or TenantRate off). Every
// connection of the tenant takes its frames from this one bucket as well
// as from its own.
func (s *Server) tenantLimiter(sl slot) *rate.Limiter {
	if !sl.identified {
		return nil
	}
	a := s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	if tr := a.rates[sl.tenant]; tr != nil {
		return tr.lim
	}
	return nil
}
