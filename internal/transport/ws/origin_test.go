package ws

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// originRequest is an upgrade request as the HTTP server hands it over: it
// arrived on the listener address local ("" for none), with the given Host
// and Origin header values, over TLS when secure.
func originRequest(local, host string, secure bool, origins ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://bus.example/ws", nil)
	r.Host = host
	for _, o := range origins {
		r.Header.Add("Origin", o)
	}
	if local != "" {
		addr := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(local))
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
	}
	if secure {
		r.TLS = &tls.ConnectionState{}
	} else {
		r.TLS = nil
	}
	return r
}

// With no origins listed, a browser page connects only from the bus's own
// origin: the scheme of the connection and the listener address it arrived
// on. The Host header plays no part, so a rebound name is refused, and what
// no browser sends is refused too.
func TestTheBusOwnOriginIsItsListenerAddressNotTheHostHeader(t *testing.T) {
	s := NewServer(testOptions(nil))
	const local, evil = "127.0.0.1:9100", "evil.example:9100"
	for _, c := range []struct {
		name        string
		local, host string
		secure      bool
		origins     []string
		want        bool
	}{
		{"no origin: a non-browser client, whatever its Host", local, evil, false, nil, true},
		{"no origin and no Host", local, "", false, nil, true},
		{"the listener's address", local, local, false, []string{"http://127.0.0.1:9100"}, true},
		{"the listener's address under a forged Host", local, evil, false, []string{"http://127.0.0.1:9100"}, true},
		{"localhost on a loopback listener", local, "localhost:9100", false, []string{"http://localhost:9100"}, true},
		{"localhost in capitals", local, "localhost:9100", false, []string{"http://LOCALHOST:9100"}, true},
		{"a rebound name agreeing with its Host", local, evil, false, []string{"http://" + evil}, false},
		{"the Host's name in another case", local, "bus.example", false, []string{"http://BUS.example"}, false},
		{"the listener's address over the wrong scheme", local, local, false, []string{"https://127.0.0.1:9100"}, false},
		{"the listener's host on another port", local, local, false, []string{"http://127.0.0.1:9101"}, false},
		{"the listener's host on the default port", local, local, false, []string{"http://127.0.0.1"}, false},
		{"an opaque origin", local, local, false, []string{"null"}, false},
		{"an empty Origin header", local, local, false, []string{""}, false},
		{"an origin that does not parse", local, local, false, []string{"http://127.0.0.1:9100/%zz"}, false},
		{"an origin with a path", local, local, false, []string{"http://127.0.0.1:9100/"}, false},
		{"an origin with credentials", local, local, false, []string{"http://u@127.0.0.1:9100"}, false},
		{"an origin with an empty port", local, local, false, []string{"http://127.0.0.1:"}, false},
		{"two Origin headers", local, local, false, []string{"http://127.0.0.1:9100", "http://127.0.0.1:9100"}, false},
		{"a request without Host", local, "", false, []string{"http://127.0.0.1:9100"}, false},
		{"a request without a listener address", "", local, false, []string{"http://127.0.0.1:9100"}, false},
		{"an IPv6 listener's address", "[::1]:9100", "[::1]:9100", false, []string{"http://[::1]:9100"}, true},
		{"localhost on an IPv6 loopback listener", "[::1]:9100", "localhost:9100", false, []string{"http://localhost:9100"}, true},
		{"localhost on a public listener", "192.0.2.7:9100", "localhost:9100", false, []string{"http://localhost:9100"}, false},
		{"a public listener's address", "192.0.2.7:9100", "192.0.2.7:9100", false, []string{"http://192.0.2.7:9100"}, true},
		{"a TLS listener's address", "192.0.2.7:443", "192.0.2.7", true, []string{"https://192.0.2.7"}, true},
		{"a TLS listener's address over http", "192.0.2.7:443", "192.0.2.7", true, []string{"http://192.0.2.7:443"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, s.originAllowed(originRequest(c.local, c.host, c.secure, c.origins...)))
		})
	}
}

// A listed origin matches by scheme, host and port, the port defaulted from
// the scheme and case ignored; nothing merely close to it matches.
func TestAListedOriginMatchesBySchemeHostAndPort(t *testing.T) {
	s := NewServer(testOptions(func(o *Options) {
		o.AllowedOrigins = []string{"https://app.example", "HTTP://Admin.Example:8080/", "app2.example"}
	}))
	for _, c := range []struct {
		origin string
		want   bool
	}{
		{"https://app.example", true},
		{"HTTPS://APP.EXAMPLE", true},
		{"https://app.example:443", true},
		{"http://admin.example:8080", true},
		{"http://app.example", false},
		{"https://app.example:8443", false},
		{"https://app.example.evil.example", false},
		{"https://app.example@evil.example", false},
		{"http://admin.example", false},
		{"http://app2.example", false},
		{"null", false},
	} {
		t.Run(c.origin, func(t *testing.T) {
			assert.Equal(t, c.want, s.originAllowed(originRequest("127.0.0.1:9100", "app.example", false, c.origin)))
		})
	}
}

// "*" (dev only, by configuration) allows every origin as documented, also
// those the policy otherwise refuses as no browser page's.
func TestTheWildcardAllowsEveryOrigin(t *testing.T) {
	s := NewServer(testOptions(func(o *Options) { o.AllowedOrigins = []string{"*"} }))
	for _, origins := range [][]string{{"https://evil.example"}, {"null"}, {"%zz"}, {"a", "b"}} {
		assert.True(t, s.originAllowed(originRequest("127.0.0.1:9100", "", false, origins...)), "%q", origins)
	}
}

// A refused origin up to the logging bound is logged whole; a longer one is
// cut to the bound and marked as cut.
func TestARefusedOriginIsLoggedWholeUpToTheBound(t *testing.T) {
	atBound := strings.Repeat("o", maxLoggedOrigin)
	assert.Equal(t, atBound, loggedOrigin(atBound))
	assert.Equal(t, atBound+"…", loggedOrigin(atBound+"o"))
}
