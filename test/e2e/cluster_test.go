//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// presenceWithin bounds how long a client's presence may take to reach the
// other nodes: it is written to Redis in the background after the
// handshake.
const presenceWithin = 5 * time.Second

func TestTwoNodesSharingOneRedisShareRoomsDirectMessagesAndHistory(t *testing.T) {
	t.Parallel()
	// A Redis of its own: every node uses the default key prefix and
	// broker channel, so nodes of other tests would join this cluster.
	srv := redistest.RedisWithFaults(t)
	env := redisEnv(srv.URL(), "strict")
	nodeA, nodeB := testutil.RunBinary(t, env), testutil.RunBinary(t, env)
	a, a2, b := dial(t, nodeA.URL), dial(t, nodeA.URL), dial(t, nodeB.URL)
	testutil.Join(t, a, "cluster", "main")
	testutil.Join(t, a2, "cluster", "main")
	testutil.Join(t, b, "cluster", "main")

	t.Run("a message from node A reaches node B once and the ack counts local deliveries", func(t *testing.T) {
		ack := testutil.Request(t, a, &protocol.Envelope{ID: "cluster_001", Type: protocol.TypeMessage,
			Room: "cluster", Channel: "main", Payload: json.RawMessage(`{"from":"A"}`)})
		require.Equal(t, protocol.TypeMessageResponse, ack.Type, "reply: %s", protocol.Encode(ack))
		assert.Equal(t, map[string]any{"delivered": float64(1), "persisted": true}, testutil.Payload(t, ack),
			"delivered counts the members on node A (a2), not those on node B")
		for name, c := range map[string]*client.Client{"a2 on node A": a2, "b on node B": b} {
			got := testutil.Expect(t, c)
			assert.Equal(t, "cluster_001", got.ID, name)
			assert.Equal(t, a.ID(), got.Sender, name)
			assert.JSONEq(t, `{"from":"A"}`, string(got.Payload), name)
		}
		testutil.ExpectNone(t, b, quiet)
		testutil.ExpectNone(t, a2, quiet)
		testutil.ExpectNone(t, a, quiet)
	})

	t.Run("a message from node B reaches both members on node A once", func(t *testing.T) {
		ack := testutil.Request(t, b, &protocol.Envelope{ID: "cluster_002", Type: protocol.TypeMessage,
			Room: "cluster", Channel: "main", Payload: json.RawMessage(`{"from":"B"}`)})
		require.Equal(t, protocol.TypeMessageResponse, ack.Type, "reply: %s", protocol.Encode(ack))
		assert.EqualValues(t, 0, testutil.Payload(t, ack)["delivered"], "no other member on node B")
		assert.Equal(t, "cluster_002", testutil.Expect(t, a).ID)
		assert.Equal(t, "cluster_002", testutil.Expect(t, a2).ID)
		testutil.ExpectNone(t, a, quiet)
		testutil.ExpectNone(t, a2, quiet)
		testutil.ExpectNone(t, b, quiet)
	})

	t.Run("a direct message from node A reaches a client of node B", func(t *testing.T) {
		// Presence is written in the background: until it reaches Redis the
		// target is unknown (NOT_FOUND, nothing delivered), then it is found.
		var id string
		attempts := 0
		var last *protocol.Envelope
		found := testutil.Poll(presenceWithin, func() bool {
			attempts++
			id = fmt.Sprintf("cluster_dm_%03d", attempts)
			last = testutil.Request(t, a, &protocol.Envelope{ID: id, Type: protocol.TypeMessage,
				ToClient: b.ID(), Payload: json.RawMessage(`{"direct":true}`)})
			return last.Type == protocol.TypeMessageResponse || last.ErrorCode != string(protocol.CodeNotFound)
		})
		require.True(t, found, "b's presence did not reach node A within %s: %s", presenceWithin, protocol.Encode(last))
		require.Equal(t, protocol.TypeMessageResponse, last.Type, "reply: %s", protocol.Encode(last))
		t.Logf("direct message accepted on attempt %d", attempts)
		got := testutil.Expect(t, b)
		assert.Equal(t, id, got.ID)
		assert.Equal(t, a.ID(), got.Sender)
		assert.Equal(t, b.ID(), got.ToClient)
		assert.JSONEq(t, `{"direct":true}`, string(got.Payload))
		testutil.ExpectNone(t, b, quiet)
		testutil.ExpectNone(t, a2, quiet)
	})

	t.Run("history on node B holds node A's message", func(t *testing.T) {
		h := testutil.Command(t, b, "history", map[string]any{"room": "cluster", "channel": "main"})
		assert.Equal(t, []string{"cluster_001", "cluster_002"}, historyIDs(t, h))
		assert.Equal(t, true, h["complete"])
		msgs, _ := h["messages"].([]any)
		require.NotEmpty(t, msgs)
		first, _ := msgs[0].(map[string]any)
		assert.Equal(t, a.ID(), first["sender"])
	})
}
