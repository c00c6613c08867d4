package regression

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestRegression_OtherNodesTreatALateRedisWriteAsItsSenderWasTold:
// the append script once published stored messages for the other nodes
// itself. When Redis ran a script its sender had given up on (Redis stalled
// past ARQONBUS_REDIS_TIMEOUT), a strict message refused with
// STORAGE_UNAVAILABLE still reached other nodes (SPEC §4, §7), and a degraded
// one, also published from the fallback, reached them twice. Only the
// broker publishes, once the store has answered.
func TestRegression_OtherNodesTreatALateRedisWriteAsItsSenderWasTold(t *testing.T) {
	srv := redistest.RedisWithFaults(t)
	for _, mode := range []string{config.ModeStrict, config.ModeDegraded} {
		t.Run(mode, func(t *testing.T) {
			opts := []testutil.Option{testutil.WithRedis(srv.URL(), mode),
				testutil.WithConfig(func(c *config.Config) { c.RedisTimeout = 300 * time.Millisecond })}
			a, b := testutil.StartServer(t, opts...), testutil.StartServer(t, opts...)
			room := fmt.Sprintf("late-%s-%d", mode, time.Now().UnixNano())
			sender, member := testutil.Dial(t, a), testutil.Dial(t, b)
			testutil.Join(t, sender, room, "main")
			testutil.Join(t, member, room, "main")
			send := func(id string) *protocol.Envelope {
				return testutil.Request(t, sender, &protocol.Envelope{ID: id, Type: protocol.TypeMessage,
					Room: room, Channel: "main", Payload: json.RawMessage(`{}`)})
			}
			// Control: node B hears a message from node A.
			testutil.Eventually(t, func() bool { return send("before").Type == protocol.TypeMessageResponse },
				5*time.Second, "a message from A is stored")
			require.Equal(t, "before", testutil.Expect(t, member).ID)

			srv.Pause(t) // the append is sent and waits in Redis's socket
			late := send("late")
			if mode == config.ModeStrict {
				require.Equal(t, string(protocol.CodeStorageUnavailable), late.ErrorCode, "refused: %s", protocol.Encode(late))
			} else {
				require.Equal(t, protocol.TypeMessageResponse, late.Type, "degraded takes it: %s", protocol.Encode(late))
			}
			srv.Unpause(t) // Redis now runs the append its sender gave up on

			n := 0
			testutil.Eventually(t, func() bool {
				n++
				return send(fmt.Sprint("after-", n)).Type == protocol.TypeMessageResponse
			}, 10*time.Second, "A stores again once Redis answers")
			want := []string{fmt.Sprint("after-", n)}
			if mode == config.ModeDegraded {
				want = append([]string{"late"}, want...) // delivered once, from the fallback path
			}
			assert.Equal(t, want, nextIDs(t, member, len(want)), "what node B delivered after the stall")
		})
	}
}

// nextIDs returns the ids of c's next n frames.
func nextIDs(t *testing.T, c *client.Client, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, testutil.Expect(t, c).ID)
	}
	return ids
}
