package ws

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/bus"
)

// discardConn is a socket whose writes always succeed at once; it counts
// the bytes and the write calls.
type discardConn struct {
	net.Conn
	bytes, writes atomic.Int64
}

func (d *discardConn) Write(p []byte) (int, error) {
	d.bytes.Add(int64(len(p)))
	d.writes.Add(1)
	return len(p), nil
}
func (d *discardConn) SetWriteDeadline(time.Time) error { return nil }
func (d *discardConn) SetReadDeadline(time.Time) error  { return nil }

// BenchmarkFanoutThroughQueues publishes one 200-byte frame to 1000
// subscribers with real send queues and writers (the socket write itself is
// free), measuring the server's own cost per delivery: enqueue, wake-up,
// framing and coalescing.
func BenchmarkFanoutThroughQueues(b *testing.B) {
	const subs = 1000
	srv := NewServer(testOptions(func(o *Options) { o.Hub, o.SendQueueBytes = bus.NewHub(8), 64<<20 }))
	hub := srv.o.Hub
	topic := bus.Topic{Room: "bench", Channel: "fanout"}
	sinks := make([]*discardConn, subs)
	for i := range sinks {
		sinks[i] = &discardConn{}
		c := srv.newConn(sinks[i], nil, nil, auth.Identity{})
		c.id = "c" + strconv.Itoa(i)
		hub.Register(c)
		if _, err := hub.Join(c.id, topic); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.closeWith(0, ""); <-c.writerDone() })
	}
	d := &broker.Delivery{Room: "bench", Channel: "fanout", SenderID: "publisher", Frame: make([]byte, 200)}
	b.ReportAllocs()
	for b.Loop() {
		hub.Deliver(d)
	}
	want := int64(b.N) * 202
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range sinks { // poll until every frame is written
		for s.bytes.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("a subscriber got %d of %d bytes", s.bytes.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var writes int64
	for _, s := range sinks {
		writes += s.writes.Load()
	}
	b.ReportMetric(float64(subs)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(subs)*float64(b.N)/float64(writes), "frames/write")
}
