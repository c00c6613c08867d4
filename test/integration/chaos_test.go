//go:build integration

package integration

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// chaos is 50 publishers of 20 messages each (four rounds of 5), at most 40
// a second each.
var chaos = load{clients: 50, each: 5, pace: 25 * time.Millisecond}

// chaosSteps pauses Redis halfway through the first round, stops it halfway
// through the second and starts it again halfway through the third. The
// script ends when the server says storage is "ok" again: the last round
// goes after that.
func chaosSteps(s *testutil.Server, redisSrv durable) []step {
	half := chaos.clients * chaos.each / 2
	return []step{
		{at: half, name: "pause", do: func(t *testing.T) { redisSrv.Pause(t) }},
		{at: half, name: "stop", do: func(t *testing.T) { redisSrv.Stop(t) }},
		{at: half, name: "restart", do: func(t *testing.T) { restartAndWait(t, s, redisSrv) }},
	}
}

// restartAndWait starts Redis again and waits until the server has noticed.
func restartAndWait(t *testing.T, s *testutil.Server, redisSrv durable) {
	t.Helper()
	redisSrv.Start(t)
	began := time.Now()
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	t.Logf("storage ok again %s after Redis answered", time.Since(began).Round(time.Millisecond))
}

func TestChaosInStrictModeEveryMessageGetsOneReplyNoRefusedOneIsDeliveredAndEveryAckedOneIsStored(t *testing.T) {
	t.Parallel()
	redisSrv := makeDurable(t, redistest.RedisWithFaults(t))
	s := startOn(t, redisSrv.RedisServer, config.ModeStrict)
	room := uniq("chaos-strict")
	res := runLoad(t, s, room, chaos, chaosSteps(s, redisSrv))

	sent := chaos.clients * chaos.each * 4
	require.Len(t, res.outcomes, sent, "every publisher sent every message")
	acked, refused := res.ids("ack", false), res.ids("refused", false)
	assert.Empty(t, res.ids("none", false), "messages without a reply")
	assert.Empty(t, res.ids("other", false), "messages with a reply other than an ack or STORAGE_UNAVAILABLE")
	assert.Zero(t, res.extra, "surplus replies")
	assert.NotEmpty(t, refused, "the faults refused some messages")
	assert.Equal(t, res.ids("ack", true), sortedAfter(res), "every message sent once storage was ok again is acknowledged")

	for _, id := range acked {
		assert.Equal(t, 1, res.delivered[id], "acknowledged %s delivered once", id)
	}
	for _, id := range refused {
		assert.Zero(t, res.delivered[id], "refused %s must not be delivered", id)
	}
	assert.Len(t, res.delivered, len(acked), "the subscriber received exactly the acknowledged messages")

	stored := streamMessageIDs(t, redistest.RedisClient(t, redisSrv.RedisServer), "arqonbus:*"+globEscape(room)+"*")
	var missing []string
	for _, id := range acked {
		if stored[id] == 0 {
			missing = append(missing, id)
		}
	}
	assert.Empty(t, missing, "acknowledged messages missing from Redis")
	refusedStored := 0
	for _, id := range refused {
		if stored[id] > 0 {
			refusedStored++
		}
	}
	t.Logf("strict chaos: sent %d, acked %d, refused %d, acked found in Redis %d, refused found in Redis %d (allowed: a write whose answer timed out)",
		sent, len(acked), len(refused), len(acked)-len(missing), refusedStored)

	assert.Empty(t, res.livezBad, "/livez answers other than 200")
	livez(t, s)
	// A write that was in flight across the restart may still time out
	// after the probe saw Redis answer: that is one more (short) outage,
	// logged like the others. Count once the server is ok again.
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	logs := s.Logs.String()
	assert.GreaterOrEqual(t, stateChanges(logs, "down"), 1)
	assert.Equal(t, stateChanges(logs, "down"), stateChanges(logs, "ok"), "one WARN per change: every outage logged once, every recovery once")
}

func TestChaosInDegradedModeEveryMessageIsAcknowledgedAndDeliveredOnce(t *testing.T) {
	t.Parallel()
	redisSrv := makeDurable(t, redistest.RedisWithFaults(t))
	s := startOn(t, redisSrv.RedisServer, config.ModeDegraded)
	room := uniq("chaos-degraded")
	res := runLoad(t, s, room, chaos, chaosSteps(s, redisSrv))

	sent := chaos.clients * chaos.each * 4
	require.Len(t, res.outcomes, sent, "every publisher sent every message")
	acked := res.ids("ack", false)
	assert.Len(t, acked, sent, "degraded mode acknowledges every message (refused %d, no reply %d, other %d)",
		res.count("refused"), res.count("none"), res.count("other"))
	assert.Zero(t, res.extra, "surplus replies")
	for _, id := range acked {
		assert.Equal(t, 1, res.delivered[id], "%s delivered once", id)
	}
	assert.Len(t, res.delivered, sent, "the subscriber received every message")

	assert.Equal(t, 0.0, s.Counter(t, "storage_degraded"))
	fallback := s.Counter(t, "storage_fallback_writes_total")
	assert.Positive(t, fallback, "some writes went to the memory fallback")
	stored := streamMessageIDs(t, redistest.RedisClient(t, redisSrv.RedisServer), "arqonbus:*"+globEscape(room)+"*")
	inRedis := 0
	for _, id := range acked {
		if stored[id] > 0 {
			inRedis++
		}
	}
	t.Logf("degraded chaos: sent %d, acked %d, refused %d, delivered %d, fallback writes %.0f, found in Redis %d",
		sent, len(acked), res.count("refused"), len(res.delivered), fallback, inRedis)

	assert.Empty(t, res.livezBad, "/livez answers other than 200")
	livez(t, s)
	waitReadyz(t, s, http.StatusOK, "ok", recoverWithin) // see the strict test
	logs := s.Logs.String()
	assert.GreaterOrEqual(t, stateChanges(logs, "degraded"), 1)
	assert.Equal(t, stateChanges(logs, "degraded"), stateChanges(logs, "ok"), "one WARN per change: every degraded period logged once, every recovery once")
}

// sortedAfter lists the ids of the messages sent after the fault script.
func sortedAfter(r *loadResult) []string {
	var all []string
	for _, kind := range []string{"ack", "refused", "none", "other"} {
		all = append(all, r.ids(kind, true)...)
	}
	slices.Sort(all)
	return all
}
