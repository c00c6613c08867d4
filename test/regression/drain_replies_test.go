package regression

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

// TestRegression_FramesReadDuringTheDrainAreAnswered: Shutdown closed each
// connection's send queue while its reader went on reading, so the frames
// read after the drain began were handled (and stored) but their acks had
// nowhere to go: 125-127 messages per SIGTERM run were stored and never
// answered. Each reader now closes its own connection: it finishes and
// answers the frame in hand, reads nothing more, then sends 1001.
func TestRegression_FramesReadDuringTheDrainAreAnswered(t *testing.T) {
	s := testutil.StartServer(t)
	var mu sync.Mutex
	replies := map[string]int{}
	pub := testutil.Dial(t, s, client.Options{OnFrame: func(b []byte) {
		var r struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(b, &r)
		mu.Lock()
		defer mu.Unlock()
		if r.Type == protocol.TypeMessageResponse {
			replies[r.ID]++
		} else {
			replies[r.RequestID]++
		}
	}})
	answered := func() int { mu.Lock(); defer mu.Unlock(); return len(replies) }
	sending := make(chan struct{})
	go func() { // publishes until the drain closes the connection
		defer close(sending)
		for i := 0; pub.Send(&protocol.Envelope{ID: fmt.Sprintf("m-%d", i), Type: protocol.TypeMessage,
			Room: "r", Channel: "c", Payload: json.RawMessage(`{}`)}) == nil; i++ {
		}
	}()
	testutil.Eventually(t, func() bool { return answered() >= 50 }, testutil.Timeout, "the publisher to be under way")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, protocol.CloseGoingAway, testutil.ExpectClose(t, pub, testutil.Timeout))
	select {
	case <-sending:
	case <-time.After(testutil.Timeout):
		t.Fatal("the publisher could still send after the drain")
	}

	read := int(s.Counter(t, "messages_received_total", protocol.TypeMessage))
	stored := int(s.Counter(t, "storage_operations_total", "append", "ok"))
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, read, "the server read some of the messages")
	assert.Equal(t, read, len(replies), "every message read is answered")
	assert.Equal(t, read, stored, "and every stored one")
	for id, c := range replies {
		assert.Equal(t, 1, c, "%s is answered once", id)
	}
}
