package adversarial

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// progress counts frames across subscribers and wakes a publisher waiting
// for them, so a test can bound how far a publisher runs ahead of its
// readers without polling.
type progress struct{ wake chan struct{} }

func newProgress() *progress { return &progress{wake: make(chan struct{}, 1)} }

// notify wakes the waiter, if any; it never blocks.
func (p *progress) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// await returns once done() holds, failing after testutil.Timeout without
// a frame arriving: a reader that stopped for that long is a failure, not a
// reason to publish past it.
func (p *progress) await(t *testing.T, done func() bool, what string, args ...any) {
	t.Helper()
	stall := time.NewTimer(testutil.Timeout)
	defer stall.Stop()
	for !done() {
		select {
		case <-p.wake:
			stall.Reset(testutil.Timeout)
		case <-stall.C:
			t.Fatalf("no progress for %s waiting for %s", testutil.Timeout, fmt.Sprintf(what, args...))
		}
	}
}

// orderedSub is a subscriber that checks, without decoding whole frames,
// that it receives 0, 1, 2, … with nothing lost, repeated or reordered.
type orderedSub struct {
	c    *client.Client
	p    *progress
	mu   sync.Mutex
	next int
	bad  string
}

var seqMarker = []byte(`"payload":{"n":`)

func newOrderedSub(t *testing.T, s *testutil.Server, p *progress) *orderedSub {
	t.Helper()
	o := &orderedSub{p: p}
	o.c = testutil.Dial(t, s, client.Options{OnFrame: o.onFrame})
	return o
}

func (o *orderedSub) onFrame(b []byte) {
	n := -1
	if i := bytes.Index(b, seqMarker); i >= 0 {
		rest := b[i+len(seqMarker):]
		end := bytes.IndexByte(rest, ',')
		if end > 0 {
			n, _ = strconv.Atoi(string(rest[:end]))
		}
	}
	o.mu.Lock()
	if o.bad == "" && n != o.next {
		o.bad = fmt.Sprintf("got %d after %d: %.80s", n, o.next-1, b)
	}
	o.next++
	o.mu.Unlock()
	o.p.notify()
}

func (o *orderedSub) state() (received int, bad string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next, o.bad
}

// slowest is the fewest messages any of subs has received.
func slowest(subs []*orderedSub) int {
	least := -1
	for _, o := range subs {
		if n, _ := o.state(); least < 0 || n < least {
			least = n
		}
	}
	return least
}

// SPEC §2/§3 and DESIGN §2.5: fan-out never waits on a socket. A subscriber
// that never reads fills its byte-bounded send queue and is disconnected as
// a slow consumer, while the 199 others receive every message, in order,
// and the server's memory stays bounded by the queues.
//
// On loopback the kernel lets the server's send buffer grow to tcp_wmem's
// maximum (about 3 MiB are absorbed before a write blocks), so filling the
// slow consumer with the steady load alone would push that much through each
// of the 199 other sockets too. The slow consumer is therefore also the only
// member of a second pair fed with large frames; its queue overflows from
// whichever frame comes first, exactly as it would from the shared pair. A
// second, fast member of that pair proves the frames are not too big for a
// client that reads: only the one that never reads is dropped.
//
// Only the silent client can overflow, however loaded the machine: the
// publishers never run more than a window ahead of the readers (the steady
// load at most window messages ahead of the slowest of the 199, the
// firehose in lockstep with its fast member), and the window's bytes are a
// fraction of the queue. A reader starved of CPU for seconds delays the test;
// it cannot be dropped. The client that never reads falls behind without
// bound, which is the property under test.
func TestASlowConsumerAmong200SubscribersIsDisconnectedAndTheOthersMissNothing(t *testing.T) {
	const (
		queue     = 64 << 10
		room, ch  = "load", "steady"
		good      = 199
		padding   = 1 << 10 // steady load, per message
		window    = 16      // steady messages in flight to the slowest reader: ~20 KiB of a 64 KiB queue
		bigFrame  = 8 << 10 // firehose, per message, one in flight
		maxSends  = 3000
		afterDrop = 100 // steady messages published after the slow consumer is gone
	)
	s := start(t, unlimited, func(c *config.Config) {
		c.SendQueueBytes, c.MaxMessageSize = queue, queue
		c.EnablePersistence = false // history would hold every message: not what is measured here
	})
	by := newBystander(t, s)
	steady := newProgress()
	subs := make([]*orderedSub, good)
	for i := range subs {
		subs[i] = newOrderedSub(t, s, steady)
		testutil.Join(t, subs[i].c, room, ch)
	}
	pub, firehose := testutil.Dial(t, s), testutil.Dial(t, s)
	fed := newProgress()
	var fastGot atomic.Int64
	fast := testutil.Dial(t, s, client.Options{OnFrame: func([]byte) { fastGot.Add(1); fed.notify() }})
	testutil.Join(t, fast, "slow", "firehose")
	base := runtime.NumGoroutine()
	heapBefore := liveHeap()

	// The slow consumer: a bare socket with a small receive buffer that
	// joins both pairs and then never reads again.
	d := net.Dialer{Timeout: testutil.Timeout, Control: smallReceiveBuffer(4096)}
	nc, err := d.DialContext(testutil.Ctx(t), "tcp", s.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	slow := testutil.UpgradeRawWS(t, s, nc)
	for _, pair := range []string{`"load","channel":"steady"`, `"slow","channel":"firehose"`} {
		require.NoError(t, slow.Write(true, testutil.OpText, []byte(`{"type":"command","command":"join_channel","args":{"room":`+pair+`}}`)))
		_, reply, err := slow.ReadMessage(testutil.Timeout)
		require.NoError(t, err)
		require.Contains(t, string(reply), `"status":"success"`)
	}
	active := s.Counter(t, "connections_active")

	// A steady load, each message acknowledged, never more than window
	// messages ahead of the slowest reader.
	big := pad(bigFrame)
	sent, droppedAt, after, firehoseSent := 0, -1, 0, int64(0)
	var peakHeap uint64
	for ; sent < maxSends && after < afterDrop; sent++ {
		if droppedAt < 0 {
			switch ack := testutil.Publish(t, firehose, "slow", "firehose", map[string]any{"big": big}); ack.Delivered {
			case 2:
			case 1:
				droppedAt = sent
			default:
				t.Fatalf("firehose message %d reached %d members: the fast reader was dropped too", sent, ack.Delivered)
			}
			firehoseSent++
			fed.await(t, func() bool { return fastGot.Load() >= firehoseSent },
				"the fast member to read firehose message %d", firehoseSent)
		}
		steady.await(t, func() bool { return slowest(subs) >= sent-window },
			"the slowest subscriber to come within %d messages of %d", window, sent)
		ack := testutil.Publish(t, pub, room, ch, map[string]any{"n": sent, "pad": pad(padding)})
		switch {
		case ack.Delivered == good+1:
		case ack.Delivered == good:
			if droppedAt < 0 {
				droppedAt = sent
			}
			after++
		default:
			t.Fatalf("message %d reached %d subscribers", sent, ack.Delivered)
		}
		if sent%100 == 0 {
			peakHeap = max(peakHeap, liveHeap())
		}
	}
	require.GreaterOrEqual(t, droppedAt, 0, "the slow consumer was never dropped in %d messages", maxSends)
	t.Logf("slow consumer dropped at steady message %d, %d sent in all", droppedAt, sent)
	assert.EqualValues(t, 1, s.Counter(t, "slow_consumer_disconnects_total"), "only the slow consumer was dropped")
	assertStillOpen(t, fast)
	assert.EqualValues(t, 1, s.Counter(t, "messages_dropped_total", "slow_consumer"))

	// Every well-behaved subscriber gets every message, in order.
	testutil.Eventually(t, func() bool {
		for _, o := range subs {
			if n, _ := o.state(); n < sent {
				return false
			}
		}
		return true
	}, 20*time.Second, "%d subscribers to receive %d messages", good, sent)
	for i, o := range subs {
		n, bad := o.state()
		assert.Empty(t, bad, "subscriber %d", i)
		assert.Equal(t, sent, n, "subscriber %d received everything, once", i)
	}

	// The slow consumer's connection is gone on the server side.
	testutil.Eventually(t, func() bool { return s.Counter(t, "connections_active") == active-1 }, settle,
		"the slow consumer's connection to close")

	// What the slow consumer itself sees, once it finally reads: the frames
	// that were already in the socket buffers, then the end of the stream.
	// The server sends close 4008 only if the socket can take it: the writer
	// of a client that never reads is blocked on a full socket, gives up at
	// its write deadline and closes without a close frame (often a frame cut
	// in the middle, then EOF). So the code is asserted only when it arrives.
	code, ended := slow.EndCode(closeWait)
	assert.True(t, ended, "the slow consumer's socket is closed")
	if code != 0 {
		assert.Equal(t, protocol.CloseSlowConsumer, code)
	}
	t.Logf("close code that reached the slow consumer: %d (0: none)", code)
	_ = slow.Conn.Close()

	heapAfter := liveHeap()
	t.Logf("live heap: before %d KiB, peak %d KiB, after %d KiB", heapBefore>>10, peakHeap>>10, heapAfter>>10)
	assert.Less(t, int64(peakHeap)-int64(heapBefore), int64(64<<20), "peak heap growth stays bounded")
	assert.Less(t, int64(heapAfter)-int64(heapBefore), int64(16<<20), "heap returns near its baseline")
	goroutinesBack(t, base)
	by.stillServed(t)
}
