package ws

import (
	"strconv"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the writer alone over net.Pipe: a pipe write blocks until
// the peer reads, so "the peer is slow" is simply "the test has not read".

// writerRunning reports whether c has a writer goroutine.
func writerRunning(c *conn) bool {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.running
}

// writerTook waits until the writer has popped everything queued (it is
// then blocked writing it to a peer that does not read yet).
func writerTook(t *testing.T, c *conn) {
	t.Helper()
	eventually(t, 5*time.Second, func() bool {
		c.out.mu.Lock()
		defer c.out.mu.Unlock()
		return len(c.out.frames) == 0
	}, "the writer pops the queue")
}

// waitDone waits for the writer to finish for good.
func waitDone(t *testing.T, c *conn) {
	t.Helper()
	select {
	case <-c.writerDone():
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not finish")
	}
}

func text(f frame) string {
	if f.op != opText {
		return "op " + strconv.Itoa(int(f.op))
	}
	return string(f.payload)
}

func TestTheWriterRestartsAfterItsIdleLinger(t *testing.T) {
	s := NewServer(testOptions(nil))
	s.linger = 5 * time.Millisecond
	c, peer := pipeConn(t, s)
	for i := range 3 {
		msg := `{"n":` + strconv.Itoa(i) + `}`
		require.True(t, c.Send([]byte(msg)))
		assert.Equal(t, msg, text(readFrameFrom(t, peer)))
		eventually(t, 5*time.Second, func() bool { return !writerRunning(c) }, "the idle writer exits")
	}
}

func TestASlowConsumerIsDroppedWith4008(t *testing.T) {
	const queue = 64
	frame40 := func(tag byte) []byte {
		f := make([]byte, 40)
		for i := range f {
			f[i] = tag
		}
		return f
	}
	// overflow fills the queue of c past its bound while the writer is
	// blocked on frame A, and checks that the client is dropped.
	overflow := func(t *testing.T, s *Server, c *conn) {
		require.True(t, c.Send(frame40('A')))
		writerTook(t, c)
		require.True(t, c.Send(frame40('B')), "40 of 64 bytes")
		assert.False(t, c.Send(frame40('C')), "80 of 64 bytes: a slow consumer")
		assert.False(t, c.Send([]byte("{}")), "nothing is taken after the drop")
		assert.Equal(t, 1.0, promtest.ToFloat64(s.o.Metrics.SlowConsumerDisconnects))
		assert.Equal(t, 1.0, promtest.ToFloat64(s.o.Metrics.MessagesDropped.WithLabelValues("slow_consumer")))
	}

	t.Run("a peer that reads late gets what was written, then 4008, and nothing queued", func(t *testing.T) {
		s := NewServer(testOptions(func(o *Options) { o.SendQueueBytes = queue }))
		c, peer := pipeConn(t, s)
		overflow(t, s, c)
		assert.Equal(t, string(frame40('A')), text(readFrameFrom(t, peer)))
		f := readFrameFrom(t, peer)
		assert.Equal(t, closeSlowConsumer, f.closeCode(), "B was dropped; the close frame follows A")
		assert.Equal(t, "send queue full", string(f.payload[2:]))
		waitDone(t, c)
	})
	t.Run("a writer stuck on a peer that never reads gives up after the grace period", func(t *testing.T) {
		s := NewServer(testOptions(func(o *Options) { o.SendQueueBytes = queue }))
		s.closeGrace = 20 * time.Millisecond
		c, _ := pipeConn(t, s)
		overflow(t, s, c)
		waitDone(t, c)
		assert.Equal(t, 1.0, promtest.ToFloat64(s.o.Metrics.Failures.WithLabelValues("socket_write")))
	})
}

func TestQueuedFramesReachThePeerBeforeTheCloseFrame(t *testing.T) {
	s := NewServer(testOptions(nil))
	c, peer := pipeConn(t, s)
	require.True(t, c.Send([]byte(`"0"`)))
	writerTook(t, c) // blocked on "0": the rest waits in the queue
	for i := 1; i < 5; i++ {
		require.True(t, c.Send([]byte(`"`+strconv.Itoa(i)+`"`)))
	}
	c.closeWith(closeGoingAway, "server shutting down")
	assert.False(t, c.Send([]byte(`"late"`)), "nothing is taken after close")
	for i := range 5 {
		assert.Equal(t, `"`+strconv.Itoa(i)+`"`, text(readFrameFrom(t, peer)))
	}
	f := readFrameFrom(t, peer)
	assert.Equal(t, closeGoingAway, f.closeCode())
	assert.Equal(t, "server shutting down", string(f.payload[2:]))
	waitDone(t, c)
}

func TestAWriteThatOutlastsTheWriteTimeoutEndsTheWriter(t *testing.T) {
	s := NewServer(testOptions(func(o *Options) { o.WriteTimeout = 20 * time.Millisecond }))
	c, _ := pipeConn(t, s)
	require.True(t, c.Send([]byte(`"never read"`)))
	waitDone(t, c)
	assert.Equal(t, 1.0, promtest.ToFloat64(s.o.Metrics.Failures.WithLabelValues("socket_write")))
	assert.False(t, c.Send([]byte(`"after"`)), "a finished writer takes nothing")
	assert.False(t, c.out.pushControl(pingFrame), "not even a ping")
}

func TestControlFramesGoAheadOfQueuedData(t *testing.T) {
	s := NewServer(testOptions(nil))
	c, peer := pipeConn(t, s)
	require.True(t, c.Send([]byte(`"0"`)))
	writerTook(t, c)
	require.True(t, c.Send([]byte(`"1"`)))
	c.out.setPong([]byte("old"))
	c.out.setPong([]byte("new"))
	require.True(t, c.out.pushControl(pingFrame))

	assert.Equal(t, `"0"`, text(readFrameFrom(t, peer)))
	assert.Equal(t, frame{op: opPing, payload: []byte{}}, readFrameFrom(t, peer))
	assert.Equal(t, frame{op: opPong, payload: []byte("new")}, readFrameFrom(t, peer), "only the latest ping is answered")
	assert.Equal(t, `"1"`, text(readFrameFrom(t, peer)))
}
