package ws

import (
	"bufio"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// closeGrace is how long the writer waits for the peer's close reply after
// sending a close frame, the write deadline for that frame, and how long a
// writer blocked on a slow consumer's socket keeps trying once the client
// is dropped.
const closeGrace = time.Second

// writerLinger is how long an idle writer goroutine waits for more frames
// before it exits; the next frame starts a new one. Idle connections thus
// hold no writer goroutine (and no stack) at all.
const writerLinger = time.Second

// conn is one client connection, served by two goroutines: the reader
// (readLoop, for the connection's life, started by ServeHTTP) and the
// writer (writeLoop, started by the send queue when there is something to
// write, gone after writerLinger without work). Only the writer writes to
// the socket, with one exception: gorilla's reader may write a
// protocol-error close frame itself, one atomic write on the same socket.
type conn struct {
	// Set before the connection is shared; read-only afterwards.
	srv   *Server
	ws    *websocket.Conn // the read side: only the reader calls it
	nc    net.Conn        // the socket: the writer writes, both set deadlines
	br    *bufio.Reader   // gorilla's read buffer, to see whether bytes wait
	id    string
	ident auth.Identity

	// Between every sender and the writer: the send queue, under its own
	// lock. Its done channel is the one "writer done" signal. The writer
	// keeps no fields: its state lives in writeLoop.
	out sendQueue

	// Owned by the reader goroutine (serve, readLoop, handle).
	pinger         *time.Timer   // keepalive; serve sets it before arming it, so its callback may read it
	limiter        *rate.Limiter // nil: no rate limit
	tenantLimiter  *rate.Limiter // shared by the tenant's connections; nil: none
	overSince      time.Time     // first refused frame of the current overage
	lastRefused    time.Time
	controlRefused int         // control frames refused in the current overage
	violations     []time.Time // protocol violations of the last minute

	// Set by the keepalive timer when it queues a ping, cleared by the pong
	// that answers it: that pong is free, any other one counts against the
	// rate limit.
	awaitingPong atomic.Bool

	// Between the reader and Server.Shutdown: whether the reader is
	// handling a frame (Shutdown lets it finish and answer) or reading
	// (Shutdown cuts the read short and sets woken).
	wakeMu   sync.Mutex
	handling bool
	woken    bool
}

var _ bus.Subscriber = (*conn)(nil)

// never is a timer duration that does not fire.
const never = time.Duration(math.MaxInt64)

// newConn returns a connection over the socket nc; wsConn reads from it
// (nil in tests of the writer alone).
func (s *Server) newConn(nc net.Conn, wsConn *websocket.Conn, br *bufio.Reader, ident auth.Identity) *conn {
	c := &conn{srv: s, ws: wsConn, nc: nc, br: br, id: protocol.NewClientID(), ident: ident}
	c.out.init(s.o.SendQueueBytes, c.writeLoop)
	if s.o.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(s.o.RateLimit), s.o.RateBurst)
	}
	return c
}

func (c *conn) ID() string     { return c.id }
func (c *conn) Tenant() string { return c.ident.Tenant }

// Send enqueues a JSON frame body without blocking. On overflow the client is
// a slow consumer: its queue is dropped and it is closed with 4008. An empty
// queue always takes one frame, so a frame at the size limit (which grows a
// little when the server stamps it) still reaches an idle client.
func (c *conn) Send(frame []byte) bool {
	if err := c.out.push(frame); err != nil {
		c.refused(err)
		return false
	}
	return true
}

// sendReply enqueues the answer to the client's own request. It is accepted
// as long as the queue was within its bound before it, so a large answer (a
// history page) reaches a client that reads; memory stays bounded by the
// queue limit plus one reply.
func (c *conn) sendReply(frame []byte) bool {
	if err := c.out.pushReply(frame); err != nil {
		c.refused(err)
		return false
	}
	return true
}

// refused handles a frame the queue did not take: after an overflow the
// client is a slow consumer.
func (c *conn) refused(err error) {
	if err == errQueueFull {
		c.srv.slowConsumer(c)
		// A writer blocked on this client's socket gives up soon.
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.closeGrace))
	}
}

// closeWith stops accepting frames and asks the writer to flush what is
// queued, then send a close frame with code (none when code is 0). The
// first call wins.
func (c *conn) closeWith(code int, text string) { c.out.close(code, text) }

// pingFrame is a keepalive ping with no payload.
var pingFrame = appendFrame(nil, opPing, nil)

// ping queues a keepalive ping and re-arms itself while the writer lives.
func (c *conn) ping() {
	c.awaitingPong.Store(true)
	if c.out.pushControl(pingFrame) {
		c.pinger.Reset(c.srv.o.PingInterval)
	}
}

// writerDone is closed once the writer has written its last byte.
func (c *conn) writerDone() <-chan struct{} { return c.out.done }

// serve runs a connection from the welcome to the end: it registers it
// (hub and presence) before it welcomes it, arms the keepalive and the token expiry, reads until the connection
// ends, waits for the writer to finish, and unregisters it.
func (s *Server) serve(c *conn) {
	m := s.o.Metrics
	m.ConnectionsTotal.Inc()
	m.ConnectionsActive.Inc()
	// Reachable first, welcomed second: the welcome hands out the id that
	// others address direct messages to, and no one can know it before.
	s.o.Hub.Register(c)
	if s.o.Presence != nil {
		s.o.Presence.Connected(c.ident.Tenant, c.id)
	}
	c.Send(protocol.Encode(protocol.Welcome(c.id, s.o.Clock())))
	log := s.o.Logger.With("client_id", c.id)
	log.Debug("client connected", "subject", c.ident.Subject, "tenant", c.ident.Tenant)

	var expiry *time.Timer
	if !c.ident.ExpiresAt.IsZero() {
		expiry = time.AfterFunc(c.ident.ExpiresAt.Sub(s.o.Clock()), func() {
			c.closeWith(closeTokenExpired, "token expired")
		})
	}
	// The field is set before the timer is armed, so its callback reads it
	// without a lock.
	c.pinger = time.AfterFunc(never, c.ping)
	c.pinger.Reset(s.o.PingInterval)
	err := c.readLoop()
	if expiry != nil {
		expiry.Stop()
	}
	c.pinger.Stop()
	if s.draining.Load() {
		c.closeWith(closeGoingAway, goingAwayReason)
	} else {
		c.closeWith(0, "")
	}
	<-c.writerDone()
	if initiatedByServer(err) {
		c.drain(err)
	}
	_ = c.nc.Close()
	s.o.Hub.Unregister(c.id)
	if s.o.Presence != nil {
		s.o.Presence.Disconnected(c.ident.Tenant, c.id)
	}
	if s.o.OnDisconnect != nil {
		s.o.OnDisconnect(c.id)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	m.ConnectionsActive.Dec()
	log.Debug("client disconnected", "reason", err)
}
