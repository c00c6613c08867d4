package ws

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// readLoop is the connection's reader: it reads frames and handles each
// in turn until the connection ends, and returns the reason. On Linux it
// parks in a readiness wait, with a shallow stack, until bytes arrive;
// frames are read into pooled buffers, given back once handled.
func (c *conn) readLoop() error {
	o := &c.srv.o
	alive := o.PingInterval + o.PongTimeout
	done := c.writerDone()
	extend := func() {
		select {
		case <-done: // the writer set the last deadline
		default:
			if !c.srv.draining.Load() { // Shutdown set the last deadline
				_ = c.ws.SetReadDeadline(time.Now().Add(alive))
			}
		}
	}
	// Only a pong proves the peer is alive (SPEC §2: no pong within the
	// timeout closes the connection); data frames do not extend the deadline.
	// Control frames the client sends of its own accord (pings, pongs that
	// answer no ping of ours) count against the rate limit like data frames:
	// gorilla handles them inside NextReader, out of the loop's sight.
	extend()
	c.ws.SetPongHandler(func(string) error {
		if c.awaitingPong.Swap(false) {
			extend()
			return nil
		}
		ok, err := c.admitControl("pong")
		if ok {
			extend() // an unsolicited pong is a heartbeat too (RFC 6455 §5.5.3)
		}
		return err
	})
	c.ws.SetPingHandler(func(data string) error {
		ok, err := c.admitControl("ping")
		if ok {
			c.out.setPong([]byte(data))
		}
		return err
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
		// No frame is read once the drain began: each frame read is
		// answered before the close frame goes out.
		if !c.reading() {
			return c.goAway()
		}
		if ready != nil && c.br.Buffered() == 0 {
			if err := ready.wait(); err != nil {
				if c.wasWoken() {
					return c.goAway()
				}
				return err
			}
		}
		mt, r, err := c.ws.NextReader()
		var data []byte
		buf := framePool.Get().(*[]byte)
		if err == nil {
			data, err = readFrame(r, limit, buf)
		}
		if err != nil && c.wasWoken() {
			// Shutdown cut a frame short: it was never read, so it is
			// owed no reply. gorilla's reader is spent: no drain.
			c.closeWith(closeGoingAway, goingAwayReason)
			return err
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
		c.handleBegins()
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
	errTooBig       = errors.New("frame too big")
	errInvalidUTF8  = errors.New("invalid UTF-8 in text frame")
	errRateLimited  = errors.New("rate limit exceeded for too long")
	errControlFlood = errors.New("control frames over the rate limit")
	errPolicy       = errors.New("too many protocol violations")
	errGoingAway    = errors.New("server shutting down")
)

// goingAwayReason is the reason of the drain's 1001 close frame.
const goingAwayReason = "server shutting down"

// reading tells Shutdown the reader is about to read (it may be cut short
// from now on) and reports false once the drain has begun: the reader must
// then read nothing more.
func (c *conn) reading() bool {
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	if c.srv.draining.Load() {
		return false
	}
	c.handling = false
	return true
}

// handleBegins tells Shutdown a whole frame was read: it is handled and
// answered before the reader looks at the drain again.
func (c *conn) handleBegins() {
	c.wakeMu.Lock()
	c.handling = true
	c.wakeMu.Unlock()
}

// wasWoken reports whether Shutdown cut the reader's read short.
func (c *conn) wasWoken() bool {
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	return c.woken
}

// wake is Shutdown's call, after it set the draining flag: a reader
// waiting for a frame is woken at once (its read deadline passes); a
// reader handling one finishes, answers, and then sees the flag.
func (c *conn) wake() {
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	if !c.handling {
		c.woken = true
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// goAway closes the connection for the drain: the frames queued (every
// read frame's reply among them) go first, then 1001.
func (c *conn) goAway() error {
	c.closeWith(closeGoingAway, goingAwayReason)
	return errGoingAway
}

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
	ok, byTenant := c.allow(now)
	if ok {
		return true, false
	}
	refusal := errRateLimit
	if byTenant {
		refusal = errTenantRateLimit
		c.srv.o.Metrics.MessagesDropped.WithLabelValues(metrics.DropTenantRateLimited).Inc()
	} else {
		c.srv.o.Metrics.MessagesDropped.WithLabelValues(metrics.DropRateLimited).Inc()
	}
	if now.Sub(c.overSince) > c.srv.o.RateLimitGrace {
		c.srv.o.Logger.Warn("rate limit exceeded for too long; connection closed", "client_id", c.id,
			"op", "read", "over_since", c.overSince)
		c.closeWith(closeRateLimited, "rate limit exceeded")
		return false, true
	}
	c.replyError(env(), refusal)
	return false, false
}

// minControlFlood is the fewest control frames, refused in one overage,
// that close a connection, however small the burst. A keepalive sends one
// every few seconds.
const minControlFlood = 16

// admitControl applies the rate limit to a control frame the client sent of
// its own accord (kind: "ping", or "pong" for one that answers no ping of
// ours) and reports whether to act on it. Over the limit it is dropped
// unanswered and counted; once more than the burst of them (at least
// minControlFlood) were refused in one overage, or the overage outlasts the
// grace period, the connection is closed with 4029 and err is
// errControlFlood. Such a flood costs the server its reading and nothing
// more: no reply is ever owed to a control frame.
func (c *conn) admitControl(kind string) (ok bool, err error) {
	if c.limiter == nil {
		return true, nil
	}
	now := c.srv.o.Clock()
	if ok, _ := c.allow(now); ok {
		return true, nil
	}
	c.controlRefused++
	c.srv.o.Metrics.MessagesDropped.WithLabelValues(metrics.DropControlFlood).Inc()
	if c.controlRefused > max(c.srv.o.RateBurst, minControlFlood) ||
		now.Sub(c.overSince) > c.srv.o.RateLimitGrace {
		c.srv.o.Logger.Warn("control frame flood; connection closed", "client_id", c.id,
			"op", "read", "frame", kind, "refused", c.controlRefused, "over_since", c.overSince)
		c.closeWith(closeRateLimited, "rate limit exceeded by control frames")
		return false, errControlFlood
	}
	return false, nil
}

// allow takes one frame's token from the connection's rate limiter and,
// when it has one, from its tenant's shared one; byTenant says the
// tenant's was empty. A refusal starts or extends the current overage. A
// client is back under its limit once it has gone a whole grace period
// without a refused frame; a token trickling back in between refusals
// does not reset the clock.
func (c *conn) allow(now time.Time) (ok, byTenant bool) {
	ok = c.limiter.AllowN(now, 1)
	if ok && c.tenantLimiter != nil && !c.tenantLimiter.AllowN(now, 1) {
		ok, byTenant = false, true
	}
	if ok {
		if !c.overSince.IsZero() && now.Sub(c.lastRefused) > c.srv.o.RateLimitGrace {
			c.overSince, c.controlRefused = time.Time{}, 0
		}
		return true, false
	}
	if c.overSince.IsZero() {
		c.overSince = now
	}
	c.lastRefused = now
	return false, byTenant
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

// initiatedByServer reports whether the read loop ended because the server
// decided to close (the peer may still send its close reply).
func initiatedByServer(err error) bool {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return false
	}
	var ne net.Error
	return !errors.As(err, &ne) && !errors.Is(err, net.ErrClosed)
}

// drain reads and discards until the peer closes or the grace period ends,
// so a close frame just sent is not lost to a TCP reset. After a control
// frame flood gorilla's reader is spent (a handler's error is final), so
// the bytes are discarded unparsed until the peer hangs up or the grace
// period ends.
func (c *conn) drain(cause error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.closeGrace))
	if errors.Is(cause, errControlFlood) {
		var r io.Reader = c.nc
		if c.br != nil {
			r = c.br
		}
		_, _ = io.Copy(io.Discard, r) // ends at EOF, an error or the deadline: all fine here
		return
	}
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}
