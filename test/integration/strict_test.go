//go:build integration

package integration

import (
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

// readyzDownWithin is how soon /readyz must turn 503 after the first failed
// write in strict mode (SPEC §7).
const readyzDownWithin = 2 * time.Second

func TestStrictModeRefusesAndDeliversNothingWhileRedisIsStoppedAndRecoversByItself(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.RedisWithFaults(t)
	s := startOn(t, redisSrv, config.ModeStrict)
	sender, peer := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, peer, "lab", "main")

	r, err := publish(testutil.Ctx(t), sender, "lab", "main", "before-stop", 1)
	require.NoError(t, err)
	assert.Equal(t, protocol.StatusSuccess, r.Status)
	assert.True(t, ack(t, r).Persisted)
	assert.Equal(t, "before-stop", testutil.Expect(t, peer).ID)

	redisSrv.Stop(t)
	r, err = publish(testutil.Ctx(t), sender, "lab", "main", "while-stopped", 2)
	require.NoError(t, err)
	failedAt := time.Now()
	assert.Equal(t, protocol.TypeError, r.Type, "reply: %s", protocol.Encode(r))
	assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode)
	assert.Equal(t, "while-stopped", r.RequestID)
	waitReadyz(t, s, http.StatusServiceUnavailable, "down", readyzDownWithin-time.Since(failedAt))
	testutil.ExpectNone(t, peer, 300*time.Millisecond)

	code, body := s.Get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.JSONEq(t, `{"status":"not_ready","storage":"down","draining":false}`, body)
	livez(t, s)
	assert.Equal(t, 1.0, s.Counter(t, "errors_total", string(protocol.CodeStorageUnavailable)))
	assert.GreaterOrEqual(t, s.Counter(t, "storage_operations_total", "append", "error"), 1.0)
	assert.Equal(t, 0.0, s.Counter(t, "storage_fallback_writes_total"), "strict mode never falls back")
	st := testutil.Command(t, sender, "status", nil)
	storage, _ := st["storage"].(map[string]any)
	assert.Equal(t, "down", storage["state"], "status command: %v", storage)
	assert.Equal(t, false, storage["degraded"])
	assert.NotEmpty(t, storage["last_error"])

	// Still refused, and still not delivered, while Redis stays away.
	r, err = publish(testutil.Ctx(t), sender, "lab", "main", "still-stopped", 3)
	require.NoError(t, err)
	assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode)
	testutil.ExpectNone(t, peer, 200*time.Millisecond)

	redisSrv.Start(t)
	began := time.Now()
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	t.Logf("/readyz 200 again %s after Redis answered", time.Since(began).Round(time.Millisecond))
	code, body = s.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready","storage":"ok","draining":false}`, body)
	r, err = publish(testutil.Ctx(t), sender, "lab", "main", "after-start", 4)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted, "reply: %s", protocol.Encode(r))
	assert.Equal(t, "after-start", testutil.Expect(t, peer).ID, "the peer gets the next message and none of the refused ones")
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "down"), "one WARN for ok -> down")
	assert.Equal(t, 1, stateChanges(s.Logs.String(), "ok"), "one WARN for down -> ok")
}

func TestStrictModeAnswersWithinAboutTheRedisTimeoutWhileRedisHangs(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.RedisWithFaults(t)
	s := startOn(t, redisSrv, config.ModeStrict)
	sender, peer := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, peer, "lab", "main")
	r, err := publish(testutil.Ctx(t), sender, "lab", "main", "before-pause", 1)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	testutil.Expect(t, peer)

	redisSrv.Pause(t)
	// Each publish waits for Redis at most about ARQONBUS_REDIS_TIMEOUT, then
	// is refused; it never hangs with the server.
	for i, id := range []string{"hang-1", "hang-2", "hang-3"} {
		began := time.Now()
		r, err := publish(testutil.Ctx(t), sender, "lab", "main", id, i)
		took := time.Since(began)
		require.NoError(t, err)
		assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode, "reply: %s", protocol.Encode(r))
		assert.Less(t, took, 3*redisTimeout, "publish %s answered after %s with Redis hung (timeout %s)", id, took, redisTimeout)
		t.Logf("publish %s refused after %s", id, took.Round(time.Millisecond))
	}
	testutil.ExpectNone(t, peer, 200*time.Millisecond)
	waitReadyz(t, s, http.StatusServiceUnavailable, "down", readyzDownWithin)
	livez(t, s)
	// Commands that read storage give up on the same deadline.
	for _, cmd := range []string{"history", "channel_info"} {
		began := time.Now()
		_, err := sender.Command(testutil.Ctx(t), cmd, map[string]any{"room": "lab", "channel": "main"})
		took := time.Since(began)
		require.Error(t, err, "%s with Redis hung", cmd)
		assert.Equal(t, protocol.CodeStorageUnavailable, protocol.AsWire(err).Code, "%s: %v", cmd, err)
		assert.Less(t, took, 3*redisTimeout, "%s answered after %s with Redis hung", cmd, took)
	}
	st := testutil.Command(t, sender, "status", nil)
	storage, _ := st["storage"].(map[string]any)
	assert.Equal(t, "timeout", storage["last_error"], "status names the failure")

	redisSrv.Unpause(t)
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	r, err = publish(testutil.Ctx(t), sender, "lab", "main", "after-unpause", 9)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted, "reply: %s", protocol.Encode(r))
	assert.Equal(t, "after-unpause", testutil.Expect(t, peer).ID, "none of the refused messages was delivered")
}

// The storage state used to change only when a call failed: the probe ran
// after a failure, never before one, so a strict node that published nothing
// kept answering /readyz 200 "ok" with its Redis gone, and a load balancer
// kept sending it clients whose every message would be refused. Now the
// policy also pings a healthy primary (store.DefaultHealthInterval), so an
// idle strict node turns 503 while Redis is down and 200 once it answers
// again (SPEC §8; DESIGN §5: 200 only when Redis answers).
func TestAnIdleStrictNodeTurnsUnreadyWhenRedisStops(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.RedisWithFaults(t)
	s := startOn(t, redisSrv, config.ModeStrict)
	redisSrv.Stop(t)
	waitReadyz(t, s, http.StatusServiceUnavailable, "down", 10*time.Second)
	redisSrv.Start(t)
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
}
