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
			_ = c.ws.SetReadDeadline(time.Now().Add(alive))
		}
	}
	// Only a pong proves the peer is alive (SPEC §2: no pong within the
	// timeout closes the connection); data frames do not extend the deadline.
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.out.setPong([]byte(data))
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
// so a close frame just sent is not lost to a TCP reset.
func (c *conn) drain() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.closeGrace))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}
