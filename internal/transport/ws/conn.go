package ws

import (
	"bufio"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
)

// closeGrace is how long the writer waits for the peer's close reply after
// sending a close frame, and the write deadline for that frame.
const closeGrace = time.Second

// writerLinger is how long an idle writer goroutine waits for more frames
// before it exits; the next frame starts a new one. Idle connections thus
// hold no writer goroutine (and no stack) at all.
const writerLinger = time.Second

// conn is one client connection. The reader has its own goroutine for the
// connection's life; the writer runs while there is something to write. Only
// the writer writes to the socket (gorilla's reader may write a
// protocol-error close frame itself, which is one atomic write on the same
// socket).
type conn struct {
	srv   *Server
	ws    *websocket.Conn
	nc    net.Conn
	br    *bufio.Reader // gorilla's read buffer, to see whether bytes wait
	id    string
	ident auth.Identity

	mu        sync.Mutex
	queue     [][]byte // frames waiting for the writer, JSON bodies
	spare     [][]byte
	control   []byte // control frames (ping, pong, close echo) to write first
	queued    int    // bytes in queue
	closing   bool   // no more frames accepted
	closeCode int    // close frame to send once the queue is flushed; 0: none
	closeText string
	writing   bool // a writer goroutine is running
	// pendingPong is the payload of the latest unanswered ping.
	pendingPong []byte
	hasPong     bool
	finished    bool // the writer is done for good: nothing more is written

	wake         chan struct{} // capacity 1: "the queue changed"
	writerDone   chan struct{} // closed when finished turns true
	writerExited atomic.Bool
	pinger       *time.Timer

	// Reader-goroutine state.
	limiter     *rate.Limiter
	overSince   time.Time // first refused frame of the current overage
	lastRefused time.Time
	violations  []time.Time
}

var _ bus.Subscriber = (*conn)(nil)

func (c *conn) ID() string     { return c.id }
func (c *conn) Tenant() string { return c.ident.Tenant }

// Send enqueues a JSON frame body without blocking. On overflow the client is
// a slow consumer: its queue is dropped and it is closed with 4008. An empty
// queue always takes one frame, so a frame at the size limit (which grows a
// little when the server stamps it) still reaches an idle client.
func (c *conn) Send(frame []byte) bool { return c.enqueue(frame, false) }

// sendReply enqueues the answer to the client's own request. It is accepted
// as long as the queue was within its bound before it, so a large answer (a
// history page) reaches a client that reads; memory stays bounded by the
// queue limit plus one reply.
func (c *conn) sendReply(frame []byte) bool { return c.enqueue(frame, true) }

func (c *conn) enqueue(frame []byte, reply bool) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	limit := c.srv.o.SendQueueBytes
	over := c.queued > 0 && c.queued+len(frame) > limit
	if reply {
		over = c.queued > limit
	}
	if over {
		c.closing = true
		c.closeCode, c.closeText = closeSlowConsumer, "send queue full"
		c.queue, c.queued = nil, 0
		c.kickLocked()
		c.mu.Unlock()
		c.srv.slowConsumer(c)
		// A writer blocked on this client's socket gives up soon.
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
		return false
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.kickLocked()
	c.mu.Unlock()
	return true
}

// kickLocked makes sure a writer will look at the queue: it wakes the
// running writer or starts one. c.mu is held.
func (c *conn) kickLocked() {
	if c.finished {
		return
	}
	if !c.writing {
		c.writing = true
		go c.writeLoop()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeWith stops accepting frames and asks the writer to flush what is
// queued, then send a close frame with code (none when code is 0). The
// first call wins.
func (c *conn) closeWith(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing, c.closeCode, c.closeText = true, code, text
	c.kickLocked()
}

// enqueueControl queues a control frame (ping, pong, close echo) ahead of
// data.
func (c *conn) enqueueControl(op byte, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.control = appendFrame(c.control, op, payload)
	c.kickLocked()
}

// pong answers a peer's ping. Only the latest unanswered ping is answered
// (RFC 6455 §5.5.3), so a ping flood from a client that never reads cannot
// grow the server's memory.
func (c *conn) pong(payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.pendingPong = append(c.pendingPong[:0], payload...)
	c.hasPong = true
	c.kickLocked()
}

// ping queues a keepalive ping and re-arms itself.
func (c *conn) ping() {
	c.enqueueControl(opPing, nil)
	c.mu.Lock()
	if !c.finished {
		c.pinger.Reset(c.srv.o.PingInterval)
	}
	c.mu.Unlock()
}

// writeLoop is the only writer of the socket. It drains the whole queue into
// one buffer and writes it with one call, exits after writerLinger without
// work, and finishes the connection's writing after the close frame (or a
// write error).
func (c *conn) writeLoop() {
	var idle *time.Timer // created on the first idle wait, never reset per frame
	var lastWork time.Time
	var deadline time.Time // the write deadline last set on the socket
	for {
		c.mu.Lock()
		if len(c.queue) == 0 && len(c.control) == 0 && !c.hasPong && !c.closing {
			c.mu.Unlock()
			if idle == nil {
				idle = time.NewTimer(writerLinger)
			}
			select {
			case <-c.wake:
				continue
			case <-idle.C:
			}
			if rest := writerLinger - time.Since(lastWork); rest > 0 {
				idle.Reset(rest) // there was work since the timer was set
				continue
			}
			c.mu.Lock()
			if len(c.queue) == 0 && len(c.control) == 0 && !c.hasPong && !c.closing {
				c.writing = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			idle.Reset(writerLinger)
			continue
		}
		if c.hasPong {
			c.control = appendFrame(c.control, opPong, c.pendingPong)
			c.hasPong = false
		}
		batch, control := c.queue, c.control
		c.queue, c.spare, c.control = c.spare[:0], nil, nil
		c.queued = 0
		closing, code, text := c.closing, c.closeCode, c.closeText
		c.mu.Unlock()

		lastWork = time.Now()
		// The deadline is moved only when a quarter of it is used up, not
		// before every write: setting it costs timer work on the hot path.
		if deadline.Sub(lastWork) < c.srv.o.WriteTimeout*3/4 {
			deadline = lastWork.Add(c.srv.o.WriteTimeout)
			if err := c.nc.SetWriteDeadline(deadline); err != nil {
				c.srv.writeFailed(c, err)
				c.finish()
				return
			}
		}
		if err := c.writeBatch(control, batch); err != nil {
			c.srv.writeFailed(c, err)
			c.finish()
			return
		}
		clear(batch)
		c.mu.Lock()
		if c.spare == nil && cap(batch) <= 1024 {
			c.spare = batch
		}
		c.mu.Unlock()
		if closing {
			if code != 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
				_, _ = c.nc.Write(appendFrame(nil, opClose, closePayload(code, text)))
			}
			c.finish()
			return
		}
	}
}

// finish ends the connection's writing for good and tells the reader not to
// wait for a peer that will hear nothing more.
func (c *conn) finish() {
	c.mu.Lock()
	c.finished, c.closing, c.writing = true, true, false
	c.queue, c.spare, c.control, c.queued = nil, nil, nil, 0
	c.mu.Unlock()
	c.writerExited.Store(true)
	_ = c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	close(c.writerDone)
}

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBatch keeps huge one-off batches out of the pool, bytes.
const maxPooledBatch = 256 << 10

func (c *conn) writeBatch(control []byte, batch [][]byte) error {
	if len(control) == 0 && len(batch) == 0 {
		return nil
	}
	bp := batchPool.Get().(*[]byte)
	b := append((*bp)[:0], control...)
	for _, f := range batch {
		b = appendHeader(b, opText, len(f))
		b = append(b, f...)
	}
	_, err := c.nc.Write(b)
	if cap(b) <= maxPooledBatch {
		*bp = b[:0]
		batchPool.Put(bp)
	}
	return err
}

// readLoop reads frames until the connection ends. It returns the reason.
func (c *conn) readLoop() error {
	o := &c.srv.o
	alive := o.PingInterval + o.PongTimeout
	extend := func() {
		if !c.writerExited.Load() {
			_ = c.ws.SetReadDeadline(time.Now().Add(alive))
		}
	}
	// Only a pong proves the peer is alive (SPEC §2: no pong within the
	// timeout closes the connection); data frames do not extend the deadline.
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.pong([]byte(data))
		return nil
	})
	c.ws.SetCloseHandler(func(code int, text string) error {
		// Echo the peer's close (RFC 6455 §5.5.1) after flushing the queue.
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		c.closeWith(code, "")
		return nil
	})
	limit := int64(o.MaxMessageSize)
	var ready *readiness
	if sc, ok := c.nc.(syscall.Conn); ok && c.br != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			ready = newReadiness(raw)
		}
	}
	for {
		if ready != nil && c.br.Buffered() == 0 {
			if err := ready.wait(); err != nil {
				return err
			}
		}
		mt, r, err := c.ws.NextReader()
		var data []byte
		buf := framePool.Get().(*[]byte)
		if err == nil {
			data, err = readFrame(r, limit, buf)
		}
		// gorilla reports a frame length that overflows its counters as
		// ErrReadLimit: that frame is too big as well.
		if errors.Is(err, errTooBig) || errors.Is(err, websocket.ErrReadLimit) {
			c.srv.o.Metrics.MessagesDropped.WithLabelValues("too_big").Inc()
			c.closeWith(closeTooBig, "frame larger than the limit")
			return err
		}
		if err != nil {
			return err
		}
		if mt == websocket.TextMessage && !utf8.Valid(data) {
			c.srv.o.Metrics.MessagesDropped.WithLabelValues("invalid_utf8").Inc()
			c.closeWith(closeInvalidPayload, "text frame is not valid UTF-8")
			return errInvalidUTF8
		}
		ok, stop := c.admit(func() string { return peekID(data) })
		if stop {
			return errRateLimited
		}
		if ok && c.handle(data) {
			return errPolicy
		}
		putFrameBuffer(buf)
	}
}

var (
	errTooBig      = errors.New("frame too big")
	errInvalidUTF8 = errors.New("invalid UTF-8 in text frame")
	errRateLimited = errors.New("rate limit exceeded for too long")
	errPolicy      = errors.New("too many protocol violations")
)

// framePool holds the buffers frames are read into. Nothing keeps a frame
// once it is handled (Decode copies what the envelope keeps), so one buffer
// serves frame after frame, of any connection, and an idle connection holds
// none.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledFrame keeps the rare huge frame's buffer out of the pool, bytes.
const maxPooledFrame = 64 << 10

func putFrameBuffer(b *[]byte) {
	if cap(*b) <= maxPooledFrame {
		*b = (*b)[:0]
		framePool.Put(b)
	}
}

// readFrame reads a whole message of at most limit bytes into *buf (grown
// as needed and kept there for reuse). It never reads more than limit+1
// bytes.
func readFrame(r io.Reader, limit int64, buf *[]byte) ([]byte, error) {
	lr := io.LimitedReader{R: r, N: limit + 1}
	data := (*buf)[:0]
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(len(data)+512, int(lr.N)))
		}
		n, err := lr.Read(data[len(data):min(cap(data), len(data)+int(lr.N))])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = data
			return nil, err
		}
	}
	*buf = data
	if int64(len(data)) > limit {
		return nil, errTooBig
	}
	return data, nil
}

// admit applies the per-connection rate limit and reports whether the frame
// may be handled. A frame over the limit gets a RATE_LIMIT_EXCEEDED error and
// is dropped; a client over its limit for longer than the grace period is
// closed with 4029 (stop is then true).
func (c *conn) admit(env func() string) (ok, stop bool) {
	if c.limiter == nil {
		return true, false
	}
	now := c.srv.o.Clock()
	grace := c.srv.o.RateLimitGrace
	if c.limiter.AllowN(now, 1) {
		// A client is back under its limit once it has gone a whole grace
		// period without a refused frame; a token trickling back in between
		// refusals does not reset the clock.
		if !c.overSince.IsZero() && now.Sub(c.lastRefused) > grace {
			c.overSince = time.Time{}
		}
		return true, false
	}
	if c.overSince.IsZero() {
		c.overSince = now
	}
	c.lastRefused = now
	if now.Sub(c.overSince) > grace {
		c.srv.o.Metrics.MessagesDropped.WithLabelValues("rate_limited").Inc()
		c.closeWith(closeRateLimited, "rate limit exceeded")
		return false, true
	}
	c.srv.o.Metrics.MessagesDropped.WithLabelValues("rate_limited").Inc()
	c.replyError(env(), errRateLimit)
	return false, false
}

// violation records a protocol violation and reports whether the client has
// now exceeded MaxViolations in one minute.
func (c *conn) violation() bool {
	now := c.srv.o.Clock()
	max := c.srv.o.MaxViolations
	if len(c.violations) == max {
		if now.Sub(c.violations[0]) < time.Minute {
			return true
		}
		copy(c.violations, c.violations[1:])
		c.violations = c.violations[:max-1]
	}
	c.violations = append(c.violations, now)
	return false
}
