package ws

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Close codes used here (SPEC §2).
const (
	closeGoingAway      = protocol.CloseGoingAway
	closeInvalidPayload = protocol.CloseInvalidPayload
	closePolicy         = protocol.ClosePolicy
	closeTooBig         = protocol.CloseTooBig
	closeTokenExpired   = protocol.CloseTokenExpired
	closeSlowConsumer   = protocol.CloseSlowConsumer
	closeRateLimited    = protocol.CloseRateLimited
)

// Verifier checks a bearer token (auth.Verifier satisfies it).
type Verifier interface {
	Verify(token string) (auth.Identity, error)
}

// Presence is told about connections (the broker, for cross-node direct
// messages). Its methods must not block.
type Presence interface {
	Connected(tenant, clientID string)
	Disconnected(tenant, clientID string)
}

// Options configures a Server. The limits and durations have no defaults
// here: the caller passes them all (internal/app, from internal/config,
// whose Validate keeps them in range), and NewServer panics on one that is
// not positive.
type Options struct {
	Hub       *bus.Hub
	Presence  Presence // optional
	Publisher *bus.Publisher
	Commands  *command.Registry
	// OnDisconnect, if set, learns each client whose connection ended,
	// after it left the hub (the cron lane ends the client's jobs).
	OnDisconnect func(clientID string)
	// Verifier authenticates handshakes; nil turns authentication off and
	// every client is an anonymous user.
	Verifier        Verifier
	AllowQueryToken bool
	// AllowedOrigins lists browser origins; empty allows same-origin and
	// non-browser clients only; "*" allows every origin.
	AllowedOrigins []string

	MaxConnections int
	// Caps share MaxConnections fairly among tenants, subjects and
	// addresses; zero values turn them off.
	Caps             Caps
	MaxMessageSize   int // bytes
	MaxJSONDepth     int
	SendQueueBytes   int // bytes
	MaxViolations    int // per minute
	RateLimit        int // frames per second; 0 disables
	RateBurst        int // frames; used when RateLimit is on
	RateLimitGrace   time.Duration
	PingInterval     time.Duration
	PongTimeout      time.Duration
	HandshakeTimeout time.Duration // bounds writing the 101 response; app bounds reading the request with it
	WriteTimeout     time.Duration

	// Injected; nil takes a fresh registry, a discarding logger, time.Now.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Clock   func() time.Time
}

// check panics on a limit or duration that is not positive, or a cap that
// is negative: config rejects such values, so only a caller that skipped it
// gets here.
func (o *Options) check() {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxConnections", int64(o.MaxConnections)}, {"MaxMessageSize", int64(o.MaxMessageSize)},
		{"MaxJSONDepth", int64(o.MaxJSONDepth)}, {"SendQueueBytes", int64(o.SendQueueBytes)},
		{"MaxViolations", int64(o.MaxViolations)}, {"RateLimitGrace", int64(o.RateLimitGrace)},
		{"PingInterval", int64(o.PingInterval)}, {"PongTimeout", int64(o.PongTimeout)},
		{"HandshakeTimeout", int64(o.HandshakeTimeout)}, {"WriteTimeout", int64(o.WriteTimeout)},
	} {
		if f.v <= 0 {
			panic(fmt.Sprintf("ws.Options.%s must be positive, got %d", f.name, f.v))
		}
	}
	if c := o.Caps; c.PerTenant < 0 || c.PerSubject < 0 || c.PerAddress < 0 || c.TenantRate < 0 {
		panic(fmt.Sprintf("ws.Options.Caps must not be negative, got %+v", c))
	}
	if o.RateLimit > 0 && o.RateBurst <= 0 {
		panic(fmt.Sprintf("ws.Options.RateBurst must be positive while RateLimit is on, got %d", o.RateBurst))
	}
}

// fillInjected puts stand-ins in for the injected parts left nil.
func (o *Options) fillInjected() {
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Server upgrades HTTP requests to ArqonBus connections.
type Server struct {
	// Set by NewServer; read-only afterwards.
	o          Options
	limits     protocol.Limits
	upgrader   websocket.Upgrader
	linger     time.Duration // writerLinger; a field so tests can shorten it
	closeGrace time.Duration // closeGrace; a field so tests can shorten it

	active    atomic.Int64 // connections counted against MaxConnections; changed only under admission.mu
	admission *admission   // the per-tenant, per-subject and per-address counts
	draining  atomic.Bool  // set once, under mu, by Shutdown

	mu    sync.Mutex
	conns map[*conn]struct{} // served connections, for Shutdown
	wg    sync.WaitGroup     // one per served connection; Add under mu
}

// NewServer returns a transport server. It panics when a limit or duration
// of o is not positive.
func NewServer(o Options) *Server {
	o.check()
	o.fillInjected()
	s := &Server{
		o:          o,
		limits:     protocol.Limits{MaxDepth: o.MaxJSONDepth},
		linger:     writerLinger,
		closeGrace: closeGrace,
		conns:      make(map[*conn]struct{}),
		admission:  newAdmission(),
	}
	s.upgrader = websocket.Upgrader{
		// Bounds writing the 101 response; reading the request is bounded
		// by the HTTP server's ReadHeaderTimeout, the same setting.
		HandshakeTimeout: o.HandshakeTimeout,
		// 0: gorilla reads through the bufio.Reader handed out by Hijack,
		// which hijackCapture makes a small one the connection can watch.
		ReadBufferSize: 0,
		// The writer bypasses gorilla's write path; a pool keeps an idle
		// connection from holding a write buffer.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before Upgrade
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.refuse(w, status, "Bad Request", reason.Error(), "handshake")
		},
	}
	return s
}

// Connections returns the number of open connections.
func (s *Server) Connections() int { return int(s.active.Load()) }

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// ServeHTTP runs the handshake checks and upgrades; the connection is then
// served by its own reader goroutine (serve), so the HTTP server's
// per-request state is released at once.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		s.refuse(w, http.StatusUpgradeRequired, "Upgrade Required", "connect with a WebSocket client", "not_websocket")
		return
	}
	if s.draining.Load() {
		s.refuse(w, http.StatusServiceUnavailable, "Service Unavailable", "server is shutting down", "draining")
		return
	}
	if !s.originAllowed(r) {
		s.o.Logger.Warn("handshake refused", "op", "origin", "reason", "origin_not_allowed",
			"origin", loggedOrigin(r.Header.Get("Origin")), "remote", r.RemoteAddr)
		s.refuse(w, http.StatusForbidden, "Forbidden", "origin not allowed", "origin")
		return
	}
	ident, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	sl := s.slotFor(ident, r.RemoteAddr)
	if over := s.admit(sl); over != admitted {
		s.refuseOverCap(w, r, ident, over)
		return
	}
	hc := &hijackCapture{ResponseWriter: w}
	wsConn, err := s.upgrader.Upgrade(hc, r, nil)
	if err != nil {
		s.release(sl)
		return // the upgrader answered through refuse
	}
	c := s.newConn(wsConn.NetConn(), wsConn, hc.br, ident)
	if c.limiter != nil {
		c.tenantLimiter = s.tenantLimiter(sl)
	}
	if !s.track(c) {
		s.release(sl)
		_ = wsConn.NetConn().Close()
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.release(sl)
		s.serve(c)
	}()
}

// refuseOverCap answers 503 naming the cap that is full, so a client (and
// the operator reading its report) knows which variable to raise. The log
// line names the tenant and subject, never the token.
func (s *Server) refuseOverCap(w http.ResponseWriter, r *http.Request, ident auth.Identity, over capRefusal) {
	const title = "Service Unavailable"
	switch over {
	case overTenant:
		s.o.Logger.Warn("handshake refused", "op", "admit", "reason", metrics.RejectTenantCap,
			"tenant", ident.Tenant, "limit", s.o.Caps.PerTenant)
		s.refuse(w, http.StatusServiceUnavailable, title,
			"connection limit of this tenant reached ("+config.VarMaxConnsPerTenant+")", metrics.RejectTenantCap)
	case overSubject:
		s.o.Logger.Warn("handshake refused", "op", "admit", "reason", metrics.RejectSubjectCap,
			"tenant", ident.Tenant, "subject", ident.Subject, "limit", s.o.Caps.PerSubject)
		s.refuse(w, http.StatusServiceUnavailable, title,
			"connection limit of this subject reached ("+config.VarMaxConnsPerSubject+")", metrics.RejectSubjectCap)
	case overAddress:
		s.o.Logger.Warn("handshake refused", "op", "admit", "reason", metrics.RejectAddressCap,
			"remote", r.RemoteAddr, "limit", s.o.Caps.PerAddress)
		s.refuse(w, http.StatusServiceUnavailable, title,
			"connection limit of this address reached ("+config.VarMaxConnsPerAddress+")", metrics.RejectAddressCap)
	default:
		s.refuse(w, http.StatusServiceUnavailable, title, "connection limit reached", "capacity")
	}
}

// readBufferSize is each connection's read buffer, bytes. Larger frames are
// read straight through it.
const readBufferSize = 1024

// hijackCapture hands gorilla a small read buffer of our own at the upgrade
// and remembers it, so the reader can tell whether bytes are buffered before
// it parks on the socket.
type hijackCapture struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *hijackCapture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() == 0 { // gorilla refuses early data anyway
		brw.Reader = bufio.NewReaderSize(nc, readBufferSize)
	}
	h.br = brw.Reader
	return nc, brw, nil
}

// track registers c unless shutdown has begun; goroutines cannot start once
// Shutdown runs.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// Shutdown stops accepting connections, closes every connection with 1001
// after its queued frames, and waits for them until ctx ends; then it cuts
// the remaining sockets. It is idempotent.
//
// Every frame a reader read is answered (SPEC §4): each connection's
// reader closes it, not Shutdown. A reader waiting for a frame is woken
// and reads nothing more; a reader handling one answers it first. Either
// way the reply is queued before the close frame.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.wake()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// authenticate returns the caller's identity, or answers 401/431 and returns
// false. The precise reason is logged, never sent nor counted: the counter
// gets auth.Label's coarse label.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (auth.Identity, bool) {
	if s.o.Verifier == nil {
		return auth.Identity{Role: auth.RoleUser}, true
	}
	token, err := auth.TokenFromRequest(r, s.o.AllowQueryToken)
	if err == nil {
		var ident auth.Identity
		if ident, err = s.o.Verifier.Verify(token); err == nil {
			return ident, true
		}
	}
	precise := auth.ReasonOf(err)
	// The metric is public wherever /metrics is: it gets the coarse label,
	// the log the precise reason.
	reason := auth.Label(precise)
	s.o.Metrics.AuthFailures.WithLabelValues(reason).Inc()
	s.o.Logger.Warn("handshake refused", "op", "auth", "reason", precise, "remote", r.RemoteAddr, "err", err)
	switch {
	case errors.Is(err, auth.ErrTokenTooLarge):
		s.refuse(w, http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large", "Token too large", "auth")
	case errors.Is(err, auth.ErrMissingToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="arqonbus"`)
		s.refuse(w, http.StatusUnauthorized, "Unauthorized", "Missing bearer token", "auth")
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="arqonbus"`)
		s.refuse(w, http.StatusUnauthorized, "Unauthorized", "Invalid token", "auth")
	}
	return auth.Identity{}, false
}

// refuse answers a handshake with a JSON error body and counts it. No
// cache may keep the answer: a refusal is about this request only (a
// credential, an origin, the load of the moment).
func (s *Server) refuse(w http.ResponseWriter, status int, title, details, reason string) {
	s.o.Metrics.ConnectionsRejected.WithLabelValues(reason).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": title, "details": details})
}

func (s *Server) slowConsumer(c *conn) {
	s.o.Metrics.SlowConsumerDisconnects.Inc()
	s.o.Metrics.MessagesDropped.WithLabelValues("slow_consumer").Inc()
	s.o.Logger.Warn("slow consumer disconnected", "client_id", c.id, "op", "enqueue",
		"queue_bytes", s.o.SendQueueBytes)
}

func (s *Server) writeFailed(c *conn, err error) {
	s.o.Metrics.Fail("socket_write")
	s.o.Logger.Debug("socket write failed", "client_id", c.id, "op", "write", "err", err)
}
