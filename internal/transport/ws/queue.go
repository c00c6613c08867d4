package ws

import (
	"errors"
	"sync"
)

// Why a push was refused.
var (
	errQueueClosed = errors.New("send queue closed")
	errQueueFull   = errors.New("send queue full")
)

// maxSpareFrames bounds, in frames, the batch array a queue keeps for reuse:
// a burst's huge array is left to the garbage collector.
const maxSpareFrames = 1024

// sendQueue is what a connection's writer has yet to write: data frames
// bounded in bytes, control frames that go ahead of them, and a close frame
// that goes after them. Any goroutine may push without blocking; one
// consumer at a time takes everything with pop.
//
// The queue also decides when a consumer runs: a push that finds none
// starts one, and a consumer leaves only through park, which refuses while
// anything waits. Both happen under the queue's one lock, so no frame is
// ever left behind with nobody to write it.
type sendQueue struct {
	// Fixed at init.
	limit   int           // bytes of data frames
	consume func()        // run in a new goroutine when work arrives and no consumer runs
	wake    chan struct{} // capacity 1: "work arrived", for the running consumer
	done    chan struct{} // closed by shut: nothing more is ever written

	mu      sync.Mutex
	frames  [][]byte // data frames, oldest first
	size    int      // bytes in frames
	control []byte   // encoded control frames, written before frames
	pong    []byte   // payload of the latest unanswered ping
	hasPong bool
	closed  bool   // no more data frames; the close frame follows the last one
	code    int    // close frame to write after the last frame; 0: none
	text    string // its reason
	running bool   // a consumer goroutine runs
}

// batch is one pop: everything the consumer writes in one go.
type batch struct {
	control []byte   // encoded control frames, written first
	frames  [][]byte // data frame bodies, oldest first
	closing bool     // the queue is closed: after these frames, the close frame, then shut
	code    int      // the close frame's code; 0: no close frame
	text    string
}

func (b *batch) empty() bool { return len(b.control) == 0 && len(b.frames) == 0 && !b.closing }

func newSendQueue(limit int, consume func()) *sendQueue {
	q := new(sendQueue)
	q.init(limit, consume)
	return q
}

// init prepares a zero queue; consume is started whenever work arrives and
// no consumer runs.
func (q *sendQueue) init(limit int, consume func()) {
	q.limit, q.consume = limit, consume
	q.wake = make(chan struct{}, 1)
	q.done = make(chan struct{})
}

// push queues a data frame. An empty queue always takes one frame, however
// large; otherwise the frame must fit within the limit. A frame that does
// not fit overflows the queue: every queued data frame is dropped and the
// queue closes itself with 4008 (slow consumer, SPEC §2).
func (q *sendQueue) push(frame []byte) error { return q.add(frame, false) }

// pushReply queues the answer to the client's own request: it is taken as
// long as the queue was within its limit before it, so one large answer (a
// history page) reaches a client that reads. Memory stays bounded by the
// limit plus one reply.
func (q *sendQueue) pushReply(frame []byte) error { return q.add(frame, true) }

func (q *sendQueue) add(frame []byte, reply bool) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return errQueueClosed
	}
	over := q.size > 0 && q.size+len(frame) > q.limit
	if reply {
		over = q.size > q.limit
	}
	if over {
		q.closed, q.code, q.text = true, closeSlowConsumer, "send queue full"
		q.frames, q.size = nil, 0
		q.kickLocked()
		q.mu.Unlock()
		return errQueueFull
	}
	q.frames = append(q.frames, frame)
	q.size += len(frame)
	q.kickLocked()
	q.mu.Unlock()
	return nil
}

// pushControl queues an encoded control frame ahead of the data frames,
// outside the byte bound. It reports false once the queue is shut.
func (q *sendQueue) pushControl(frame []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.isShut() {
		return false
	}
	q.control = append(q.control, frame...)
	q.kickLocked()
	return true
}

// setPong asks for a pong with payload, replacing one not yet popped: only
// the latest unanswered ping is answered (RFC 6455 §5.5.3), so a ping flood
// from a client that never reads cannot grow the queue.
func (q *sendQueue) setPong(payload []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.isShut() {
		return
	}
	q.pong = append(q.pong[:0], payload...)
	q.hasPong = true
	q.kickLocked()
}

// close stops taking data frames; what is queued is still popped, then a
// close frame with code (none when code is 0). The first close wins, an
// overflow included; close reports whether it was this one.
func (q *sendQueue) close(code int, text string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed, q.code, q.text = true, code, text
	q.kickLocked()
	return true
}

// kickLocked makes sure a consumer will look at the queue: it wakes the
// running one or starts one. q.mu is held and the queue is not shut.
func (q *sendQueue) kickLocked() {
	if !q.running {
		q.running = true
		go q.consume()
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop hands the consumer everything queued: the control frames (a pending
// pong last among them), the data frames, and whether the close frame
// follows. reuse is the consumer's previous frames, cleared: the queue
// keeps that array for the next frames, so a busy connection swaps two
// arrays and allocates none.
func (q *sendQueue) pop(reuse [][]byte) batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.hasPong {
		q.control = appendFrame(q.control, opPong, q.pong)
		q.hasPong = false
	}
	b := batch{control: q.control, frames: reuse[:0], closing: q.closed, code: q.code, text: q.text}
	q.control = nil
	if len(q.frames) > 0 {
		if cap(reuse) > maxSpareFrames {
			reuse = nil
		}
		b.frames, q.frames, q.size = q.frames, reuse[:0], 0
	}
	return b
}

// park ends the consumer's turn if nothing waits: it reports true, and the
// next push starts a new consumer. With work waiting (or the queue closed,
// so a close frame is due) it reports false and the consumer goes on.
func (q *sendQueue) park() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) > 0 || len(q.control) > 0 || q.hasPong || q.closed {
		return false
	}
	q.running = false
	return true
}

// shut ends the queue for good; the consumer calls it when it has written
// its last byte (after the close frame, or after a failed write).
// Everything queued is dropped, nothing more is taken, no consumer starts
// again, and done is closed: the connection's one "writer done" signal.
func (q *sendQueue) shut() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.isShut() {
		return
	}
	q.closed, q.running = true, false
	q.frames, q.size, q.control, q.pong, q.hasPong = nil, 0, nil, nil, false
	close(q.done)
}

// isShut reports whether shut has run.
func (q *sendQueue) isShut() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}
