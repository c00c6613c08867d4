package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/metrics"
)

// tenantSubject reads a token "tenant/subject" as that identity, so a test
// names who connects in the token itself.
var tenantSubject = verifierFunc(func(token string) (auth.Identity, error) {
	tenant, subject, ok := strings.Cut(token, "/")
	if !ok {
		return auth.Identity{}, errors.New("refused")
	}
	return auth.Identity{Tenant: tenant, Subject: subject, Role: auth.RoleUser}, nil
})

// capServer is a transport with the given caps and global cap; with auth
// on it reads identities with tenantSubject.
func capServer(maxConns int, caps Caps, authOn bool) *Server {
	return NewServer(testOptions(func(o *Options) {
		o.MaxConnections = maxConns
		o.Caps = caps
		if authOn {
			o.Verifier = tenantSubject
		}
	}))
}

func identified(tenant, subject string) slot {
	return slot{identified: true, tenant: tenant, subject: subject}
}

// Each cap admits exactly its number of connections of one tenant, subject
// or address, refuses the next with its own reason, and leaves the others
// their room.
func TestEachCapAdmitsItsNumberAndLeavesOthersTheirRoom(t *testing.T) {
	tests := []struct {
		name     string
		caps     Caps
		authOn   bool
		full     slot // the one filled up to its cap
		want     capRefusal
		neighbor slot // still admitted once full is refused
	}{
		{"the tenant cap", Caps{PerTenant: 3}, true, identified("a", ""), overTenant, identified("b", "x")},
		{"the subject cap", Caps{PerSubject: 2, PerTenant: 10}, true, identified("a", "alice"), overSubject, identified("a", "bob")},
		{"the same sub in another tenant is another subject", Caps{PerSubject: 2}, true, identified("a", "alice"), overSubject, identified("b", "alice")},
		{"the address cap", Caps{PerAddress: 2}, false, slot{address: "10.0.0.1"}, overAddress, slot{address: "10.0.0.2"}},
		{"the global cap", Caps{}, true, identified("a", "alice"), overGlobal, slot{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := capServer(5, tt.caps, tt.authOn)
			admittedFull := 0
			for s.admit(tt.full) == admitted {
				admittedFull++
				require.LessOrEqual(t, admittedFull, 5, "never more than the global cap")
			}
			assert.Equal(t, tt.want, s.admit(tt.full), "the next one is refused by its cap")
			limit := map[capRefusal]int{overTenant: tt.caps.PerTenant, overSubject: tt.caps.PerSubject,
				overAddress: tt.caps.PerAddress, overGlobal: 5}[tt.want]
			assert.Equal(t, limit, admittedFull)
			assert.Equal(t, admittedFull, s.Connections(), "a refusal holds no slot")
			if tt.want != overGlobal {
				assert.Equal(t, admitted, s.admit(tt.neighbor), "a neighbour still gets in")
			}
		})
	}
}

// A connection that ends gives its place back under every cap, and the
// maps forget a tenant, subject or address with no connection left.
func TestReleaseGivesThePlaceBackAndForgetsEmptyEntries(t *testing.T) {
	s := capServer(10, Caps{PerTenant: 1, PerSubject: 1, PerAddress: 1}, true)
	a := identified("a", "alice")
	require.Equal(t, admitted, s.admit(a))
	require.Equal(t, overSubject, s.admit(a))
	s.release(a)
	assert.Equal(t, admitted, s.admit(a), "the place is free again")
	s.release(a)

	addr := slot{address: "::1"}
	require.Equal(t, admitted, s.admit(addr))
	require.Equal(t, overAddress, s.admit(addr))
	s.release(addr)
	assert.Zero(t, s.Connections())
	assert.Empty(t, s.admission.tenants)
	assert.Empty(t, s.admission.subjects)
	assert.Empty(t, s.admission.addresses)
}

// The check and the increment are one step: many handshakes racing for the
// last places get exactly that many, never one more, under each cap.
func TestRacingHandshakesNeverExceedACap(t *testing.T) {
	tests := []struct {
		name  string
		caps  Caps
		sl    slot
		limit int
	}{
		{"global", Caps{}, identified("a", "alice"), 7},
		{"tenant", Caps{PerTenant: 7}, identified("a", ""), 7},
		{"subject", Caps{PerSubject: 7}, identified("a", "alice"), 7},
		{"address", Caps{PerAddress: 7}, slot{address: "10.0.0.1"}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			global := 1000
			if tt.name == "global" {
				global = tt.limit
			}
			s := capServer(global, tt.caps, tt.sl.identified)
			var got atomic.Int64
			var start, wg sync.WaitGroup
			start.Add(1)
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start.Wait()
					if s.admit(tt.sl) == admitted {
						got.Add(1)
					}
				}()
			}
			start.Done()
			wg.Wait()
			assert.Equal(t, int64(tt.limit), got.Load())
			assert.Equal(t, tt.limit, s.Connections())
		})
	}
}

// The slot of a handshake: with auth on it is the identity (whatever the
// address cap says), with auth off the remote IP without its port, IPv6
// as written, and nothing at all while the address cap is off.
func TestTheSlotOfAHandshake(t *testing.T) {
	on := capServer(10, Caps{PerAddress: 1}, true)
	assert.Equal(t, identified("a", "alice"), on.slotFor(auth.Identity{Tenant: "a", Subject: "alice"}, "10.0.0.1:5000"))

	off := capServer(10, Caps{PerAddress: 1}, false)
	assert.Equal(t, slot{address: "10.0.0.1"}, off.slotFor(auth.Identity{}, "10.0.0.1:5000"))
	assert.Equal(t, slot{address: "2001:db8::1"}, off.slotFor(auth.Identity{}, "[2001:db8::1]:5000"))
	assert.Equal(t, slot{address: "no-port"}, off.slotFor(auth.Identity{}, "no-port"))

	uncapped := capServer(10, Caps{}, false)
	assert.Equal(t, slot{}, uncapped.slotFor(auth.Identity{}, "10.0.0.1:5000"))
}

// A handshake over a cap gets 503 with a body that names the variable, and
// is counted under the cap's reason.
func TestAHandshakeOverACapIsRefusedNamingTheVariable(t *testing.T) {
	tests := []struct {
		name, token, reason, variable string
		caps                          Caps
		authOn                        bool
	}{
		{"tenant", "a/alice", metrics.RejectTenantCap, "ARQONBUS_MAX_CONNECTIONS_PER_TENANT", Caps{PerTenant: 1}, true},
		{"subject", "a/alice", metrics.RejectSubjectCap, "ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT", Caps{PerSubject: 1}, true},
		{"address", "", metrics.RejectAddressCap, "ARQONBUS_MAX_CONNECTIONS_PER_ADDRESS", Caps{PerAddress: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := capServer(10, tt.caps, tt.authOn)
			req := func() *http.Request {
				r := upgradeRequest(tt.token, "")
				r.RemoteAddr = "192.0.2.7:1234"
				return r
			}
			require.Equal(t, admitted, s.admit(s.slotFor(tokenIdentity(t, tt.token, tt.authOn), "192.0.2.7:1234")), "fill the cap")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req())
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			var body map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Contains(t, body["details"], tt.variable)
			assert.Equal(t, 1.0, promtest.ToFloat64(s.o.Metrics.ConnectionsRejected.WithLabelValues(tt.reason)))
			assert.Equal(t, 1, s.Connections(), "the refusal holds no slot")
		})
	}
}

func tokenIdentity(t *testing.T, token string, authOn bool) auth.Identity {
	t.Helper()
	if !authOn {
		return auth.Identity{}
	}
	id, err := tenantSubject(token)
	require.NoError(t, err)
	return id
}

// dialWS opens a WebSocket to hs with token as a bearer.
func dialWS(t *testing.T, hs *httptest.Server, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

// Over real sockets: a subject at its cap is refused; once one of its
// connections closes, the next handshake gets in; and a drain gives every
// place back.
func TestACappedSubjectGetsInAgainOnceAConnectionCloses(t *testing.T) {
	s := capServer(10, Caps{PerSubject: 2}, true)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)

	first, _, err := dialWS(t, hs, "a/alice")
	require.NoError(t, err)
	_, _, err = dialWS(t, hs, "a/alice")
	require.NoError(t, err)
	_, resp, err := dialWS(t, hs, "a/alice")
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	require.NoError(t, first.Close())
	eventually(t, 5*time.Second, func() bool { return s.Connections() == 1 }, "the closed connection gave its place back")
	_, _, err = dialWS(t, hs, "a/alice")
	require.NoError(t, err, "the freed place is taken")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	assert.Zero(t, s.Connections(), "a drain releases every place")
	assert.Empty(t, s.admission.subjects)
	assert.Empty(t, s.admission.tenants)
}

// ws.Options refuses a negative cap like any other bad limit.
func TestNewServerRefusesANegativeCap(t *testing.T) {
	for name, caps := range map[string]Caps{"tenant": {PerTenant: -1}, "subject": {PerSubject: -1}, "address": {PerAddress: -1}} {
		t.Run(name, func(t *testing.T) {
			var msg any
			func() {
				defer func() { msg = recover() }()
				NewServer(testOptions(func(o *Options) { o.Caps = caps }))
			}()
			assert.Contains(t, fmt.Sprint(msg), "ws.Options.Caps must not be negative")
		})
	}
}

// BenchmarkAdmitAndRelease is the cost the caps add to each handshake: one
// admission and its release, with every cap on.
func BenchmarkAdmitAndRelease(b *testing.B) {
	s := capServer(1<<30, Caps{PerTenant: 1 << 20, PerSubject: 1 << 20}, true)
	sl := identified("acme", "alice")
	b.ReportAllocs()
	for b.Loop() {
		if s.admit(sl) != admitted {
			b.Fatal("refused")
		}
		s.release(sl)
	}
}

// A tenant's connections share one frame bucket while any of them is
// open: a second connection gets the first one's bucket, an anonymous
// connection gets none, and the bucket is forgotten with the tenant's last
// connection, so a returning tenant starts with a full one.
func TestATenantsConnectionsShareOneBucketThatGoesWithTheLast(t *testing.T) {
	s := capServer(10, Caps{TenantRate: 5}, true)
	a1, a2, b := identified("a", "alice"), identified("a", "anna"), identified("b", "bob")
	for _, sl := range []slot{a1, a2, b} {
		require.Equal(t, admitted, s.admit(sl))
	}
	shared := s.tenantLimiter(a1)
	require.NotNil(t, shared)
	assert.Same(t, shared, s.tenantLimiter(a2), "one bucket per tenant")
	assert.NotSame(t, shared, s.tenantLimiter(b), "another tenant's is its own")
	assert.Nil(t, s.tenantLimiter(slot{address: "::1"}), "an anonymous connection has none")
	for range 5 {
		require.True(t, shared.Allow())
	}
	require.False(t, shared.Allow(), "the bucket holds one second: 5 frames")

	s.release(a1)
	assert.Same(t, shared, s.tenantLimiter(a2), "kept while a connection holds it")
	s.release(a2)
	assert.NotContains(t, s.admission.rates, "a", "forgotten with the last connection")
	require.Equal(t, admitted, s.admit(a1))
	assert.True(t, s.tenantLimiter(a1).Allow(), "a returning tenant starts full")
}
