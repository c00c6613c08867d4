package ws

import (
	"sync"
	"time"
)

// writeLoop is the connection's writer, the only writer of the socket. The
// send queue starts it when there is something to write and none runs. It
// takes everything queued at once and writes it with one call, leaves
// after the linger without work, and finishes the connection's writing
// after the close frame or a failed write.
//
// Its state lives in this function: the write deadline last set, when it
// last wrote, its idle timer and the frames array it hands back to the
// queue.
func (c *conn) writeLoop() {
	linger := c.srv.linger
	var (
		idle     *time.Timer // created on the first idle wait, never reset per frame
		lastWork time.Time
		deadline time.Time // the write deadline last set on the socket
		spare    [][]byte  // the previous batch's array, for the queue to reuse
	)
	for {
		b := c.out.pop(spare)
		if b.empty() {
			spare = b.frames
			if idle == nil {
				idle = time.NewTimer(linger)
			}
			select {
			case <-c.out.wake:
				continue
			case <-idle.C:
			}
			if rest := linger - time.Since(lastWork); rest > 0 {
				idle.Reset(rest) // there was work since the timer was set
				continue
			}
			if c.out.park() {
				return
			}
			idle.Reset(linger)
			continue
		}

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
		if err := c.writeBatch(b.control, b.frames); err != nil {
			c.srv.writeFailed(c, err)
			c.finish()
			return
		}
		clear(b.frames)
		spare = b.frames
		if b.closing {
			if b.code != 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.closeGrace))
				_, _ = c.nc.Write(appendFrame(nil, opClose, closePayload(b.code, b.text)))
			}
			c.finish()
			return
		}
	}
}

// finish ends the connection's writing for good and tells the reader not to
// wait for a peer that will hear nothing more.
func (c *conn) finish() {
	c.out.shut()
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.closeGrace))
}

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBatch keeps huge one-off batches out of the pool, bytes.
const maxPooledBatch = 256 << 10

// writeBatch frames control (already framed) and the data frames into one
// pooled buffer and writes it with one call.
func (c *conn) writeBatch(control []byte, frames [][]byte) error {
	if len(control) == 0 && len(frames) == 0 {
		return nil
	}
	bp := batchPool.Get().(*[]byte)
	b := append((*bp)[:0], control...)
	for _, f := range frames {
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
