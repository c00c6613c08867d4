//go:build integration

package integration

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// storeCommand sends op.store.<op> with args and returns the reply, error
// replies included.
func storeCommand(t *testing.T, c *client.Client, op string, args map[string]any) *protocol.Envelope {
	t.Helper()
	return testutil.Request(t, c, &protocol.Envelope{Type: protocol.TypeCommand, Command: "op.store." + op,
		Args: protocol.Object(args)})
}

// storeData returns a successful reply's data, failing on any other reply.
func storeData(t *testing.T, r *protocol.Envelope) map[string]any {
	t.Helper()
	require.Equal(t, protocol.StatusSuccess, r.Status, "reply: %s", protocol.Encode(r))
	data, _ := testutil.Payload(t, r)["data"].(map[string]any)
	return data
}

func TestKVSetOnOneNodeIsReadOnTheOtherNodeSharingRedis(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	onA, onB := testutil.Dial(t, a), testutil.Dial(t, b)
	ns := uniq("kv-shared")

	data := storeData(t, storeCommand(t, onA, "set", map[string]any{"namespace": ns, "key": "theme",
		"value": json.RawMessage(`{"dark":true}`)}))
	assert.Equal(t, true, data["created"])
	data = storeData(t, storeCommand(t, onB, "get", map[string]any{"namespace": ns, "key": "theme"}))
	assert.Equal(t, map[string]any{"dark": true}, data["value"], "node b reads what node a wrote")

	storeData(t, storeCommand(t, onB, "set", map[string]any{"namespace": ns, "key": "lang", "value": "en"}))
	data = storeData(t, storeCommand(t, onA, "list", map[string]any{"namespace": ns}))
	assert.Equal(t, []any{"lang", "theme"}, data["keys"], "both nodes list one store")

	assert.Equal(t, true, storeData(t, storeCommand(t, onB, "delete", map[string]any{"namespace": ns, "key": "theme"}))["deleted"])
	assert.Equal(t, false, storeData(t, storeCommand(t, onA, "get", map[string]any{"namespace": ns, "key": "theme"}))["found"],
		"a delete on node b is seen on node a")
}

// With Redis stopped, the key-value store has no node-local fallback in
// either storage mode: a read answers STORAGE_UNAVAILABLE (not "not
// found"), a write is refused rather than kept in one node's memory, and
// once Redis is back the same read answers the stored value again.
func TestKVAnswersStorageUnavailableInBothModesWhileRedisIsStoppedAndTheValueAfterwards(t *testing.T) {
	t.Parallel()
	redisSrv := makeDurable(t, redistest.RedisWithFaults(t))
	nodes := map[string]*client.Client{
		config.ModeStrict:   testutil.Dial(t, startOn(t, redisSrv.RedisServer, config.ModeStrict)),
		config.ModeDegraded: testutil.Dial(t, startOn(t, redisSrv.RedisServer, config.ModeDegraded)),
	}
	ns := uniq("kv-outage")
	get := map[string]any{"namespace": ns, "key": "theme"}
	storeData(t, storeCommand(t, nodes[config.ModeStrict], "set", map[string]any{"namespace": ns, "key": "theme",
		"value": json.RawMessage(`{"dark":true}`)}))

	redisSrv.Stop(t)
	for mode, c := range nodes {
		r := storeCommand(t, c, "get", get)
		assert.Equal(t, protocol.StatusError, r.Status, "%s: reply %s", mode, protocol.Encode(r))
		assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode, "%s: reply %s", mode, protocol.Encode(r))
		r = storeCommand(t, c, "set", map[string]any{"namespace": ns, "key": "during-" + mode, "value": 1})
		assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode, "%s: a write is refused: %s", mode, protocol.Encode(r))
	}

	redisSrv.Start(t)
	for mode, c := range nodes {
		var last *protocol.Envelope
		testutil.Eventually(t, func() bool {
			last = storeCommand(t, c, "get", get)
			return last.Status == protocol.StatusSuccess
		}, recoverWithin, "%s node answers op.store.get once Redis is back (last reply %v)", mode, lazy(func() string {
			return string(protocol.Encode(last))
		}))
		assert.Equal(t, map[string]any{"dark": true}, storeData(t, last)["value"], "%s node", mode)
		data := storeData(t, storeCommand(t, c, "list", map[string]any{"namespace": ns}))
		assert.Equal(t, []any{"theme"}, data["keys"], "%s node: no write of the outage was kept anywhere", mode)
	}
}
