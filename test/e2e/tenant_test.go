//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// publishTo sends a message to room:channel and returns the one reply.
func publishTo(t *testing.T, c *client.Client, room, channel string) *protocol.Envelope {
	t.Helper()
	return testutil.Request(t, c, &protocol.Envelope{Type: protocol.TypeMessage, Room: room, Channel: channel,
		Payload: json.RawMessage(`{"secret":"do not cross tenants"}`)})
}

// delivered returns an ack's delivered count, failing on any other reply.
func delivered(t *testing.T, r *protocol.Envelope) float64 {
	t.Helper()
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "reply: %s", protocol.Encode(r))
	return testutil.Payload(t, r)["delivered"].(float64)
}

// channels returns list_channels' entries as room:channel -> members.
func channels(t *testing.T, c *client.Client, args any) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	list, _ := testutil.Command(t, c, "list_channels", args)["channels"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["room"].(string)+"|"+m["channel"].(string)] = m["members"].(float64)
	}
	return out
}

func TestTenantsNeverSeeJoinOrPublishIntoEachOthersRooms(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, authEnv())
	alice := dialToken(t, p.URL, token(t, "alice", "acme", "user"))
	anna := dialToken(t, p.URL, token(t, "anna", "acme", "user"))
	bob := dialToken(t, p.URL, token(t, "bob", "globex", "user"))
	boss := dialToken(t, p.URL, token(t, "boss", "globex", "admin"))
	everyone := []*client.Client{alice, anna, bob, boss}
	for _, c := range everyone {
		testutil.Join(t, c, "science", "explore")
	}
	testutil.Join(t, bob, "globex-only", "secret")

	expectNothing := func(t *testing.T, cs ...*client.Client) {
		t.Helper()
		for _, c := range cs {
			testutil.ExpectNone(t, c, quiet)
		}
	}

	t.Run("the same room name in two tenants is two rooms", func(t *testing.T) {
		assert.EqualValues(t, 1, delivered(t, publishTo(t, alice, "science", "explore")), "only anna")
		got := testutil.Expect(t, anna)
		assert.Equal(t, alice.ID(), got.Sender)
		assert.EqualValues(t, 1, delivered(t, publishTo(t, boss, "science", "explore")), "only bob, admin or not")
		got = testutil.Expect(t, bob)
		assert.Equal(t, boss.ID(), got.Sender)
		expectNothing(t, everyone...)
	})

	t.Run("room and channel names holding colons stay in the own tenant", func(t *testing.T) {
		for _, target := range [][2]string{
			{"globex:science", "explore"},
			{"globex", "science:explore"},
			{"globex:science:explore", "explore"},
			{"globex", "science"},
			{"tenant:globex:science", "explore"},
			{"globex/science", "explore"},
			{"globex-only", "secret"},
			{"globex:globex-only", "secret"},
		} {
			assert.EqualValues(t, 0, delivered(t, publishTo(t, alice, target[0], target[1])), "publish to %q/%q", target[0], target[1])
		}
		expectNothing(t, everyone...)
	})

	t.Run("joining with tenant-like names does not reach the other tenant", func(t *testing.T) {
		testutil.Command(t, alice, "join_channel", map[string]string{"room": "globex:science:explore"}) // globex / science:explore
		testutil.Join(t, alice, "globex:science", "explore")
		testutil.Join(t, alice, "globex-only", "secret")

		assert.EqualValues(t, 1, delivered(t, publishTo(t, bob, "science", "explore")), "only boss")
		testutil.Expect(t, boss)
		assert.EqualValues(t, 0, delivered(t, publishTo(t, bob, "globex", "science:explore")))
		// bob is globex's only member of globex-only:secret; alice joined
		// acme's room of that name.
		assert.EqualValues(t, 1, delivered(t, publishTo(t, boss, "globex-only", "secret")))
		testutil.Expect(t, bob)
		expectNothing(t, everyone...)
	})

	t.Run("a direct message to another tenant's client is NOT_FOUND", func(t *testing.T) {
		for _, pair := range [][2]*client.Client{{alice, bob}, {boss, anna}} {
			r := testutil.Request(t, pair[0], &protocol.Envelope{Type: protocol.TypeMessage, ToClient: pair[1].ID(),
				Payload: json.RawMessage(`{"hi":"there"}`)})
			assert.Equal(t, protocol.TypeError, r.Type, "reply: %s", protocol.Encode(r))
			assert.Equal(t, string(protocol.CodeNotFound), r.ErrorCode)
		}
		expectNothing(t, everyone...)

		r := testutil.Request(t, alice, &protocol.Envelope{Type: protocol.TypeMessage, ToClient: anna.ID(),
			Payload: json.RawMessage(`{"hi":"there"}`)})
		assert.EqualValues(t, 1, delivered(t, r), "a direct message within the tenant is delivered")
		got := testutil.Expect(t, anna)
		assert.Equal(t, alice.ID(), got.Sender)
		assert.JSONEq(t, `{"hi":"there"}`, string(got.Payload))
	})

	t.Run("list_channels shows only the own tenant", func(t *testing.T) {
		assert.Equal(t, map[string]float64{
			"science|explore":        2,
			"globex|science:explore": 1,
			"globex:science|explore": 1,
			"globex-only|secret":     1,
		}, channels(t, alice, nil))
		assert.Equal(t, map[string]float64{"science|explore": 2, "globex-only|secret": 1}, channels(t, bob, nil))
		assert.Equal(t, map[string]float64{"globex-only|secret": 1}, channels(t, alice, map[string]string{"room": "globex-only"}),
			"alice's own globex-only room, with alice alone in it")
	})

	t.Run("channel_info shows only the own tenant's members", func(t *testing.T) {
		info := testutil.Command(t, alice, "channel_info", map[string]string{"room": "science", "channel": "explore"})
		assert.ElementsMatch(t, []any{alice.ID(), anna.ID()}, info["members"])
		assert.EqualValues(t, 2, info["member_count"])
		info = testutil.Command(t, boss, "channel_info", map[string]string{"room": "science", "channel": "explore"})
		assert.ElementsMatch(t, []any{bob.ID(), boss.ID()}, info["members"])
		info = testutil.Command(t, anna, "channel_info", map[string]string{"room": "globex-only", "channel": "secret"})
		assert.ElementsMatch(t, []any{alice.ID()}, info["members"], "acme's own globex-only room")
	})

	t.Run("history serves only the own tenant's messages", func(t *testing.T) {
		own := &protocol.Envelope{ID: "acme_note_1", Type: protocol.TypeMessage, Room: "history", Channel: "log",
			Payload: json.RawMessage(`{"n":1}`)}
		other := &protocol.Envelope{ID: "globex_note_1", Type: protocol.TypeMessage, Room: "history", Channel: "log",
			Payload: json.RawMessage(`{"n":2}`)}
		require.Equal(t, protocol.TypeMessageResponse, testutil.Request(t, alice, own).Type)
		require.Equal(t, protocol.TypeMessageResponse, testutil.Request(t, bob, other).Type)
		for _, tc := range []struct {
			c    *client.Client
			want string
		}{{alice, "acme_note_1"}, {boss, "globex_note_1"}} {
			r := testutil.Request(t, tc.c, &protocol.Envelope{Type: protocol.TypeCommand, Command: "history",
				Args: protocol.Object(map[string]string{"room": "history", "channel": "log"})})
			require.Equal(t, protocol.StatusSuccess, r.Status, "history reply: %s", protocol.Encode(r))
			var ids []string
			for _, m := range data(t, r)["messages"].([]any) {
				ids = append(ids, m.(map[string]any)["id"].(string))
			}
			assert.Equal(t, []string{tc.want}, ids)
		}
	})

	t.Run("tenant and room names cannot be shifted into each other", func(t *testing.T) {
		// Tenant "acme" room "x:science" against tenant "acme:x" room
		// "science": joined with colons they would be the same string.
		left := dialToken(t, p.URL, token(t, "lefty", "acme", "user"))
		right := dialToken(t, p.URL, token(t, "righty", "acme:x", "user"))
		testutil.Join(t, left, "x:science", "explore")
		testutil.Join(t, right, "science", "explore")
		assert.EqualValues(t, 0, delivered(t, publishTo(t, right, "science", "explore")))
		assert.EqualValues(t, 0, delivered(t, publishTo(t, left, "x:science", "explore")))
		expectNothing(t, left, right)
	})
}
