//go:build integration

package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

func TestNoAcknowledgedMessageIsMissingFromHistoryAfterRedisStopsAndStartsTwice(t *testing.T) {
	t.Parallel()
	redisSrv := makeDurable(t, redistest.RedisWithFaults(t))
	s := startOn(t, redisSrv.RedisServer, config.ModeStrict)
	room := uniq("durable")
	l := load{clients: 5, each: 8, pace: 20 * time.Millisecond}
	res := runLoad(t, s, room, l, []step{
		{at: 20, name: "stop", do: func(t *testing.T) { redisSrv.Stop(t) }},
		{at: 20, name: "restart", do: func(t *testing.T) { restartAndWait(t, s, redisSrv) }},
		{at: 20, name: "stop", do: func(t *testing.T) { redisSrv.Stop(t) }},
		{at: 20, name: "restart", do: func(t *testing.T) { restartAndWait(t, s, redisSrv) }},
	})
	acked, refused := res.ids("ack", false), res.ids("refused", false)
	require.Len(t, res.outcomes, 5*l.clients*l.each)
	assert.Len(t, acked, len(res.outcomes)-len(refused), "every message was acknowledged or refused")
	assert.NotEmpty(t, refused, "the stops refused some messages")
	assert.NotEmpty(t, acked)
	assert.Equal(t, res.ids("ack", true), sortedAfter(res), "every message of the last round, after both restarts, is acknowledged")

	stored := streamMessageIDs(t, redistest.RedisClient(t, redisSrv.RedisServer), "arqonbus:*"+globEscape(room)+"*")
	c := testutil.Dial(t, s)
	history, complete := historyPage(t, c, room, "main", 500)
	inHistory := map[string]bool{}
	for _, id := range history {
		inHistory[id] = true
	}
	var notStored, notInHistory []string
	for _, id := range acked {
		if stored[id] == 0 {
			notStored = append(notStored, id)
		}
		if !inHistory[id] {
			notInHistory = append(notInHistory, id)
		}
	}
	assert.Empty(t, notStored, "acknowledged messages missing from the Redis stream")
	assert.Empty(t, notInHistory, "acknowledged messages missing from the history command")
	assert.True(t, complete, "strict history comes from Redis alone")
	for id, n := range stored {
		assert.Equal(t, 1, n, "%s stored once", id)
	}
	t.Logf("across two restarts: sent %d, acked %d, refused %d, acked found in Redis %d, in history %d",
		len(res.outcomes), len(acked), len(refused), len(acked)-len(notStored), len(acked)-len(notInHistory))
}

// preflight runs `arqonbus preflight` in-process with environ and returns its
// exit status, stderr and how long it took.
func preflight(t *testing.T, environ ...string) (int, string, time.Duration) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	code := app.Run(ctx, app.Env{Args: []string{"preflight"}, Environ: environ, Stdout: &stdout, Stderr: &stderr})
	return code, stderr.String(), time.Since(began)
}

func TestStrictModeRefusesToStartWithExitStatus2WhileRedisIsDownOrHangs(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.RedisWithFaults(t)
	const timeout = 500 * time.Millisecond
	env := func(mode, url string) []string {
		return []string{
			"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=" + mode,
			"ARQONBUS_REDIS_URL=" + url, "ARQONBUS_REDIS_TIMEOUT=" + timeout.String(),
		}
	}
	withPassword := strings.Replace(redisSrv.URL(), "redis://", "redis://:hunter2-secret@", 1)

	code, stderr, _ := preflight(t, env(config.ModeStrict, redisSrv.URL())...)
	assert.Equal(t, 0, code, "Redis answers: preflight passes; stderr:\n%s", stderr)

	redisSrv.Stop(t)
	for _, url := range []string{redisSrv.URL(), withPassword} {
		code, stderr, _ = preflight(t, env(config.ModeStrict, url)...)
		assert.Equal(t, 2, code, "strict with Redis stopped; stderr:\n%s", stderr)
		assert.Contains(t, stderr, "ARQONBUS_REDIS_URL", "the problem names the variable to change")
		assert.NotContains(t, stderr, "hunter2-secret", "the Redis password is never printed")
	}
	code, stderr, _ = preflight(t, env(config.ModeDegraded, redisSrv.URL())...)
	assert.Equal(t, 0, code, "degraded mode starts without Redis (on the memory fallback); stderr:\n%s", stderr)

	redisSrv.Start(t)
	redisSrv.Pause(t)
	code, stderr, took := preflight(t, env(config.ModeStrict, redisSrv.URL())...)
	assert.Equal(t, 2, code, "strict with Redis hung; stderr:\n%s", stderr)
	assert.Contains(t, stderr, "ARQONBUS_REDIS_URL")
	assert.Less(t, took, 4*timeout, "the startup PING gives up after about ARQONBUS_REDIS_TIMEOUT, took %s", took)
	redisSrv.Unpause(t)
}
