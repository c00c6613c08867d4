package testutil

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// BenchRoundTrips measures one channels-workload message per iteration
// through s: a publisher sends it on a channel, waits for its ack, and a
// second connection receives the delivery. Run with -memprofile to see what
// the server allocates per message (the clients' share is small and fixed).
func BenchRoundTrips(b *testing.B, s *Server) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acks, deliveries := make(chan struct{}, 1), make(chan struct{}, 1)
	pub, err := client.Dial(ctx, s.URL, client.Options{OnFrame: func([]byte) { acks <- struct{}{} }})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := client.Dial(ctx, s.URL, client.Options{OnFrame: func([]byte) { deliveries <- struct{}{} }})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Join(ctx, "bench", "c1"); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"ts":1700000000000000000,"seq":42,"pad":"` + fmt.Sprintf("%090d", 0) + `"}`)
	var frame []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		frame = protocol.AppendEnvelope(frame[:0], &protocol.Envelope{
			ID: fmt.Sprint("m", i), Type: protocol.TypeMessage, Room: "bench", Channel: "c1", Payload: payload,
		})
		if err := pub.SendRaw(websocket.TextMessage, frame); err != nil {
			b.Fatal(err)
		}
		<-acks
		<-deliveries
	}
}
