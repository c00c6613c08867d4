package ws

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// originAllowed applies ARQONBUS_ALLOWED_ORIGINS (SPEC §2). A request
// without an Origin header comes from a non-browser client and is allowed;
// "*" allows every origin. Otherwise the one Origin must be a well-formed
// scheme://host[:port] and match a listed origin or the bus's own origin:
// scheme, host and port, the port defaulted from the scheme.
//
// The bus's own origin is the listener address the request arrived on, with
// the scheme of that connection, never the Host header: the caller chooses
// the Host, and a page whose name was rebound to the bus's address (DNS
// rebinding) sends a Host that agrees with its Origin. Behind a proxy the
// public origin must be listed. An opaque origin ("null": a sandboxed or
// file page) names no page and is refused, as is what no browser sends: a
// malformed Origin, two Origin headers, an empty Host. A listed entry that is
// not an origin matches nothing.
func (s *Server) originAllowed(r *http.Request) bool {
	values := r.Header.Values("Origin")
	if len(values) == 0 {
		return true
	}
	for _, allowed := range s.o.AllowedOrigins {
		if allowed == "*" {
			return true
		}
	}
	if len(values) > 1 || r.Host == "" {
		return false
	}
	o, ok := parseOrigin(values[0])
	if !ok {
		return false
	}
	for _, allowed := range s.o.AllowedOrigins {
		if a, ok := parseOrigin(strings.TrimSuffix(allowed, "/")); ok && a == o {
			return true
		}
	}
	return o.isListener(r)
}

// origin is a tuple origin: lower-case scheme and host, and the port, made
// explicit when the scheme has a default one.
type origin struct{ scheme, host, port string }

// defaultPorts are the ports an origin leaves out for its scheme.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// parseOrigin reads s as a serialised origin, scheme://host[:port] and
// nothing else, as browsers send it. It reports false for anything else,
// "null" among them.
func parseOrigin(s string) (origin, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.User != nil || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(u.Host, ":") {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.host == "" || strings.Contains(o.host, "%") {
		return origin{}, false
	}
	switch {
	case o.port == "":
		o.port = defaultPorts[o.scheme]
	default:
		n, err := strconv.ParseUint(o.port, 10, 16)
		if err != nil || n == 0 {
			return origin{}, false
		}
		o.port = strconv.FormatUint(n, 10)
	}
	return o, true
}

// isListener reports whether o is the origin of the connection r arrived
// on: its scheme, and the local address of the socket. A literal address
// compares as an address; "localhost" matches a loopback listener, since
// browsers resolve it to the loopback and no DNS answer can rebind it.
func (o origin) isListener(r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || o.scheme != scheme {
		return false
	}
	ap, err := netip.ParseAddrPort(la.String())
	if err != nil || o.port != strconv.Itoa(int(ap.Port())) {
		return false
	}
	local := ap.Addr().Unmap()
	if o.host == "localhost" {
		return local.IsLoopback()
	}
	addr, err := netip.ParseAddr(o.host)
	return err == nil && addr.Unmap() == local
}

// maxLoggedOrigin bounds, in bytes, how much of a refused Origin header is
// logged: the header is the caller's to fill.
const maxLoggedOrigin = 256

// loggedOrigin is an Origin header value as the refusal log line shows it.
func loggedOrigin(value string) string {
	if len(value) <= maxLoggedOrigin {
		return value
	}
	return strings.ToValidUTF8(value[:maxLoggedOrigin], "") + "…"
}
