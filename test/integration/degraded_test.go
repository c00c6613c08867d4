//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

func TestDegradedModeKeepsAckingAndDeliveringWhileRedisIsStoppedAndSaysSoUntilItReturns(t *testing.T) {
	t.Parallel()
	redisSrv := makeDurable(t, redistest.RedisWithFaults(t))
	s := startOn(t, redisSrv.RedisServer, config.ModeDegraded)
	sender, peer := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, peer, "lab", "main")

	r, err := publish(testutil.Ctx(t), sender, "lab", "main", "before-stop", 0)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	assert.Equal(t, "before-stop", testutil.Expect(t, peer).ID)
	assert.Equal(t, 0.0, s.Counter(t, "storage_degraded"))

	redisSrv.Stop(t)
	var during []string
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("during-%d", i)
		during = append(during, id)
		r, err := publish(testutil.Ctx(t), sender, "lab", "main", id, i)
		require.NoError(t, err)
		a := ack(t, r)
		assert.True(t, a.Persisted, "the memory fallback holds %s", id)
		assert.Equal(t, 1, a.Delivered)
		assert.Equal(t, id, testutil.Expect(t, peer).ID)
		assert.Equal(t, float64(i), s.Counter(t, "storage_fallback_writes_total"), "fallback writes after %s", id)
	}

	code, body := s.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code, "degraded storage is usable")
	assert.JSONEq(t, `{"status":"ready","storage":"degraded","draining":false}`, body)
	livez(t, s)
	assert.Equal(t, 1.0, s.Counter(t, "storage_degraded"))
	assert.Equal(t, 5.0, s.Counter(t, "storage_operations_total", "append", "fallback"))
	st := testutil.Command(t, sender, "status", nil)
	storage, _ := st["storage"].(map[string]any)
	assert.Equal(t, "degraded", storage["state"], "status command: %v", storage)
	assert.Equal(t, true, storage["degraded"])
	code, body = s.Get(t, "/status")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"degraded":true`, "/status: %s", body)

	ids, complete := historyPage(t, sender, "lab", "main", 50)
	assert.Equal(t, during, ids, "history while Redis is away is the fallback's")
	assert.False(t, complete, "history across a degraded period cannot prove it has no gaps")
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "degraded"), "one WARN for ok -> degraded:\n%s", s.Logs)
	assert.Equal(t, 0, stateChanges(s.Logs.String(), "ok"))

	redisSrv.Start(t)
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	code, body = s.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready","storage":"ok","draining":false}`, body)
	assert.Equal(t, 0.0, s.Counter(t, "storage_degraded"))
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "degraded"), "still one WARN for ok -> degraded")
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "ok"), "one WARN for degraded -> ok")

	r, err = publish(testutil.Ctx(t), sender, "lab", "main", "after-start", 6)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	assert.Equal(t, "after-start", testutil.Expect(t, peer).ID)
	assert.Equal(t, 5.0, s.Counter(t, "storage_fallback_writes_total"), "back on Redis: no more fallback writes")

	ids, complete = historyPage(t, sender, "lab", "main", 50)
	all := append(append([]string{"before-stop"}, during...), "after-start")
	assert.Equal(t, all, ids, "history after recovery merges Redis and the fallback in order")
	assert.False(t, complete, "the answer still spans the degraded period")

	// Bounds given as ids of messages held by either store.
	data := testutil.Command(t, sender, "history", map[string]any{"room": "lab", "channel": "main", "since": "during-2"})
	assert.Equal(t, []string{"during-3", "during-4", "during-5", "after-start"}, messageIDs(data), "since a fallback message")
	data = testutil.Command(t, sender, "history", map[string]any{"room": "lab", "channel": "main", "before": "after-start", "limit": 3})
	assert.Equal(t, []string{"during-3", "during-4", "during-5"}, messageIDs(data), "before a Redis message")
	data = testutil.Command(t, sender, "history", map[string]any{"room": "lab", "channel": "main", "since": "before-stop", "before": "during-2"})
	assert.Equal(t, []string{"during-1"}, messageIDs(data), "between a Redis and a fallback message")
}

func TestDegradedModeStartsWhileRedisIsStoppedAndMovesToRedisWhenItStarts(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.RedisWithFaults(t)
	redisSrv.Stop(t)
	s := startOn(t, redisSrv, config.ModeDegraded)
	code, body := s.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready","storage":"degraded","draining":false}`, body)
	assert.Equal(t, 1.0, s.Counter(t, "storage_degraded"))

	c := testutil.Dial(t, s)
	r, err := publish(testutil.Ctx(t), c, "lab", "main", "on-fallback", 1)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	assert.Equal(t, 1.0, s.Counter(t, "storage_fallback_writes_total"))

	redisSrv.Start(t)
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	assert.Equal(t, 0.0, s.Counter(t, "storage_degraded"))
	r, err = publish(testutil.Ctx(t), c, "lab", "main", "on-redis", 2)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	assert.Equal(t, 1.0, s.Counter(t, "storage_fallback_writes_total"), "writes go to Redis again")
	stored := streamMessageIDs(t, redistest.RedisClient(t, redisSrv), "arqonbus:*")
	assert.Equal(t, map[string]int{"on-redis": 1}, stored)
	ids, complete := historyPage(t, c, "lab", "main", 50)
	assert.Equal(t, []string{"on-fallback", "on-redis"}, ids)
	assert.False(t, complete)
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "degraded"), "one WARN for the degraded start")
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "ok"), "one WARN for the return to Redis")
}

// messageIDs lists the ids of a history answer's messages.
func messageIDs(data map[string]any) []string {
	ids := []string{}
	msgs, _ := data["messages"].([]any)
	for _, m := range msgs {
		id, _ := m.(map[string]any)["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

func TestDegradedModeKeepsAckingWithinAboutTheRedisTimeoutWhileRedisHangs(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.RedisWithFaults(t)
	s := startOn(t, redisSrv, config.ModeDegraded)
	sender, peer := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, peer, "lab", "main")
	r, err := publish(testutil.Ctx(t), sender, "lab", "main", "before-pause", 0)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	testutil.Expect(t, peer)

	redisSrv.Pause(t)
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("hang-%d", i)
		began := time.Now()
		r, err := publish(testutil.Ctx(t), sender, "lab", "main", id, i)
		took := time.Since(began)
		require.NoError(t, err)
		assert.Equal(t, protocol.TypeMessageResponse, r.Type, "reply: %s", protocol.Encode(r))
		assert.True(t, ack(t, r).Persisted)
		// The write waits for one Redis timeout at most; the cross-node
		// publish for another.
		assert.Less(t, took, 5*redisTimeout, "publish %s acked after %s with Redis hung", id, took)
		t.Logf("publish %s acked after %s", id, took.Round(time.Millisecond))
		assert.Equal(t, id, testutil.Expect(t, peer).ID)
	}
	code, body := s.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready","storage":"degraded","draining":false}`, body)
	assert.Equal(t, 1.0, s.Counter(t, "storage_degraded"))
	assert.Equal(t, 3.0, s.Counter(t, "storage_fallback_writes_total"))

	redisSrv.Unpause(t)
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	assert.Equal(t, 0.0, s.Counter(t, "storage_degraded"))
	_, complete := historyPage(t, sender, "lab", "main", 50)
	assert.False(t, complete)
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "degraded"))
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "ok"))
}
