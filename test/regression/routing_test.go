package regression

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// The Python hub keyed membership by the joined string "room:channel", so a
// member of room "a:b" channel "c" and a member of room "a" channel "b:c"
// shared one subscription and received each other's messages. Now a
// (room, channel) pair is kept as a pair everywhere (hub, store, broker);
// only the join shorthand {room:"a:b:c"} splits, at the first ':' (SPEC §1,
// §3). Checked with the memory backend and with Redis (pub/sub and streams).
func TestRegression_RoomNamesWithColonsDoNotShareMembership(t *testing.T) {
	backends := map[string]func(t *testing.T) []testutil.Option{
		"memory": func(*testing.T) []testutil.Option { return nil },
		"redis": func(t *testing.T) []testutil.Option {
			return []testutil.Option{testutil.WithRedis("redis://"+redistest.MiniRedis(t).Addr(), config.ModeStrict)}
		},
	}
	for name, opts := range backends {
		t.Run(name, func(t *testing.T) {
			s := testutil.StartServer(t, opts(t)...)
			left, right, short, pub := testutil.Dial(t, s), testutil.Dial(t, s), testutil.Dial(t, s), testutil.Dial(t, s)
			testutil.Join(t, left, "a:b", "c")
			testutil.Join(t, right, "a", "b:c")
			// The shorthand splits at the first colon: room "a", channel "b:c".
			data := testutil.Command(t, short, "join_channel", map[string]string{"room": "a:b:c"})
			require.Equal(t, "a", data["room"])
			require.Equal(t, "b:c", data["channel"])

			ack := testutil.Publish(t, pub, "a:b", "c", map[string]string{"to": "left"})
			assert.Equal(t, 1, ack.Delivered, "(a:b, c) has one member")
			got := testutil.Expect(t, left)
			assert.JSONEq(t, `{"to":"left"}`, string(got.Payload))
			assert.Equal(t, "a:b", got.Room)
			assert.Equal(t, "c", got.Channel)
			testutil.ExpectNone(t, right, quiet)
			testutil.ExpectNone(t, short, 0) // the quiet period above covered it too

			ack = testutil.Publish(t, pub, "a", "b:c", map[string]string{"to": "right"})
			assert.Equal(t, 2, ack.Delivered, "(a, b:c) has two members")
			got = testutil.Expect(t, right)
			assert.JSONEq(t, `{"to":"right"}`, string(got.Payload))
			got = testutil.Expect(t, short)
			assert.JSONEq(t, `{"to":"right"}`, string(got.Payload))
			testutil.ExpectNone(t, left, quiet)

			who := testutil.Command(t, left, "whoami", nil)
			assert.Equal(t, []any{map[string]any{"room": "a:b", "channel": "c"}}, who["subscriptions"])
			info := testutil.Command(t, pub, "channel_info", map[string]string{"room": "a:b", "channel": "c"})
			assert.Equal(t, []any{left.ID()}, info["members"], "channel_info of (a:b, c)")
			assert.EqualValues(t, 1, info["message_count"])

			h := testutil.Command(t, pub, "history", map[string]string{"room": "a", "channel": "b:c"})
			msgs := h["messages"].([]any)
			require.Len(t, msgs, 1, "history of (a, b:c) holds only its own message")
			assert.Equal(t, map[string]any{"to": "right"}, field(msgs[0].(map[string]any), "payload"))
		})
	}
}

// A connection was welcomed before it was registered: the welcome, which
// hands the client its id, was queued first and the hub learnt the id a
// moment later. A peer that addressed a direct message to the id as soon
// as the welcome arrived could be told NOT_FOUND, and on a loaded host it
// was (a unit test failed that way). Now the client is in the hub, and
// announced to the other nodes, before its welcome is queued; the ws
// package's TestTheWelcomeGoesOutOnlyOnceTheClientCanBeAddressed holds the
// announcement open to prove the order. Here many connections are each
// addressed the moment they are welcomed.
func TestRegression_AClientIsAddressableAsSoonAsItIsWelcomed(t *testing.T) {
	s := testutil.StartServer(t)
	sender := testutil.Dial(t, s)
	for i := range 200 {
		target := testutil.Dial(t, s) // returns once the welcome arrived
		r := testutil.Request(t, sender, &protocol.Envelope{Type: protocol.TypeMessage, ToClient: target.ID(),
			Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		require.Equal(t, protocol.TypeMessageResponse, r.Type, "connection %d: a direct message sent on the welcome: %s", i, protocol.Encode(r))
		got := testutil.Expect(t, target)
		assert.Equal(t, target.ID(), got.ToClient)
		require.NoError(t, target.Close())
	}
}
