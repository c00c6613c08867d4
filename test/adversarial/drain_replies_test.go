package adversarial

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §4 and §10: every frame still gets exactly one reply while the node
// shuts down. A publisher flooding messages when the drain begins gets one
// reply for every frame the server read (its messages_received_total), no
// frame is answered twice, and every message the server stored was
// acknowledged as persisted; then the connection ends with 1001.
func TestEveryFrameReadWhileTheNodeDrainsIsAnsweredExactlyOnce(t *testing.T) {
	s := start(t, unlimited)

	var mu sync.Mutex
	replies := map[string]int{}
	persisted := 0
	answered := newProgress()
	pub := testutil.Dial(t, s, client.Options{OnFrame: func(b []byte) {
		var r struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
			Payload   struct {
				Persisted bool `json:"persisted"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(b, &r)
		id := r.RequestID
		if r.Type == protocol.TypeMessageResponse {
			id = r.ID
		}
		mu.Lock()
		replies[id]++
		if r.Type == protocol.TypeMessageResponse && r.Payload.Persisted {
			persisted++
		}
		mu.Unlock()
		answered.notify()
	}})
	received := func() int { mu.Lock(); defer mu.Unlock(); return len(replies) }

	flooded := make(chan int, 1)
	go func() {
		sent := 0
		for {
			env := &protocol.Envelope{ID: fmt.Sprintf("drain-%d", sent), Type: protocol.TypeMessage,
				Room: "drain", Channel: "flood", Payload: json.RawMessage(`{"n":1}`)}
			if pub.Send(env) != nil {
				flooded <- sent
				return
			}
			sent++
		}
	}()
	testutil.Eventually(t, func() bool { return received() >= 500 }, testutil.Timeout,
		"the flood to be under way")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx), "the drain finishes within its bound")
	select {
	case <-pub.Done():
	case <-time.After(closeWait):
		t.Fatal("the publisher is still connected after the drain")
	}
	var sent int
	select {
	case sent = <-flooded:
	case <-time.After(closeWait):
		t.Fatal("the publisher's sends never failed after the drain")
	}
	code, _ := pub.CloseCode()
	assert.Equal(t, protocol.CloseGoingAway, code, "the drain closes with 1001")

	read := int(s.Counter(t, "messages_received_total", protocol.TypeMessage))
	stored := int(s.Counter(t, "storage_operations_total", "append", "ok"))
	mu.Lock()
	defer mu.Unlock()
	t.Logf("sent %d frames, the server read %d, stored %d; %d replies, %d acks say persisted",
		sent, read, stored, len(replies), persisted)
	assert.Equal(t, read, len(replies), "one reply for every frame the server read")
	for id, n := range replies {
		if !assert.Equal(t, 1, n, "%s is answered exactly once", id) {
			break
		}
	}
	assert.Equal(t, stored, persisted, "every stored message was acknowledged as persisted")
}
