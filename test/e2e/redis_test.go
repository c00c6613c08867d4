//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// Deadlines of the storage tests. The spec bounds the strict /readyz turn
// (2 s after the first failed write); recovery waits for the store's probe,
// whose backoff is capped at 5 s.
const (
	readyzDownWithin = 2*time.Second + time.Second // the spec's 2 s plus scheduling slack
	recoveryWithin   = 15 * time.Second
)

func TestStrictStorageWithRedisDownAtStartExitsWith2BeforeBinding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{
			name: "nothing listens on the Redis port",
			url: func(t *testing.T) string {
				return "redis://127.0.0.1:" + port(testutil.FreePort(t))
			},
		},
		{
			name: "the Redis server is stopped",
			url: func(t *testing.T) string {
				srv := redistest.RedisWithFaults(t)
				srv.Stop(t)
				return srv.URL()
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := tc.url(t)
			p := testutil.FreePort(t)
			code, stdout, stderr := testutil.RunBinaryExit(t,
				redisEnv(url, "strict", "ARQONBUS_SERVER_PORT="+port(p), "ARQONBUS_REDIS_TIMEOUT=500ms"), "serve")

			assert.Equal(t, 2, code, "exit status")
			assert.NotContains(t, stdout, "listening", "the server must not serve")
			found := false
			for _, line := range problems(t, stderr) {
				if strings.Contains(line, "ARQONBUS_REDIS_URL") {
					found = true
				}
			}
			assert.True(t, found, "a problem names ARQONBUS_REDIS_URL:\n%s", stderr)
			assertPortFree(t, p)
		})
	}
}

func TestDegradedStorageStartsWithRedisDownServesAndReturnsToOKByItself(t *testing.T) {
	t.Parallel()
	srv := redistest.RedisWithFaults(t)
	srv.Stop(t)
	p := testutil.RunBinary(t, redisEnv(srv.URL(), "degraded", "ARQONBUS_REDIS_TIMEOUT=500ms"))
	a, b := dial(t, p.URL), dial(t, p.URL)
	testutil.Join(t, a, "degraded", "start")
	testutil.Join(t, b, "degraded", "start")

	t.Run("readyz is 200 and says degraded", func(t *testing.T) {
		code, _, body := p.Get(t, "/readyz")
		assert.Equal(t, http.StatusOK, code)
		assert.JSONEq(t, `{"status":"ready","storage":"degraded","draining":false}`, body)
	})

	t.Run("status and the status command say degraded with the reason", func(t *testing.T) {
		cmd, ok := testutil.Command(t, a, "status", nil)["storage"].(map[string]any)
		require.True(t, ok, "the status command has a storage object")
		for name, st := range map[string]map[string]any{"GET /status": storageStatus(t, p), "status command": cmd} {
			assert.Equal(t, "redis", st["backend"], name)
			assert.Equal(t, "degraded", st["mode"], name)
			assert.Equal(t, "degraded", st["state"], name)
			assert.Equal(t, true, st["degraded"], name)
			assert.NotEmpty(t, st["last_error"], name)
		}
	})

	t.Run("the degraded gauge is 1", func(t *testing.T) {
		v, ok := scrape(t, p).Value("storage_degraded")
		require.True(t, ok, "arqonbus_storage_degraded is exported")
		assert.Equal(t, 1.0, v)
	})

	t.Run("a message is acknowledged, delivered and written to the fallback", func(t *testing.T) {
		ack := testutil.Request(t, a, &protocol.Envelope{ID: "degraded_001", Type: protocol.TypeMessage,
			Room: "degraded", Channel: "start", Payload: json.RawMessage(`{"n":1}`)})
		require.Equal(t, protocol.TypeMessageResponse, ack.Type, "reply: %s", protocol.Encode(ack))
		assert.Equal(t, "degraded_001", ack.ID)
		assert.EqualValues(t, 1, testutil.Payload(t, ack)["delivered"])
		got := testutil.Expect(t, b)
		assert.Equal(t, "degraded_001", got.ID)
		assert.Equal(t, a.ID(), got.Sender)
		v := scrape(t, p).Get(t, "storage_fallback_writes_total")
		assert.GreaterOrEqual(t, v, 1.0, "arqonbus_storage_fallback_writes_total")
	})

	srv.Start(t)

	t.Run("readyz returns to ok once Redis answers", func(t *testing.T) {
		took := waitReadyz(t, p, http.StatusOK, "ok", recoveryWithin)
		t.Logf("storage back to ok %s after Redis answered", took.Round(time.Millisecond))
		assert.Equal(t, "ok", storageStatus(t, p)["state"])
		var v float64
		testutil.Poll(time.Second, func() bool { v = scrape(t, p).Get(t, "storage_degraded"); return v == 0 })
		assert.Equal(t, 0.0, v, "arqonbus_storage_degraded")
	})

	t.Run("history across the degraded period holds the message and says incomplete", func(t *testing.T) {
		ack := testutil.Request(t, a, &protocol.Envelope{ID: "degraded_002", Type: protocol.TypeMessage,
			Room: "degraded", Channel: "start", Payload: json.RawMessage(`{"n":2}`)})
		require.Equal(t, protocol.TypeMessageResponse, ack.Type, "reply: %s", protocol.Encode(ack))
		assert.Equal(t, true, testutil.Payload(t, ack)["persisted"])
		assert.Equal(t, "degraded_002", testutil.Expect(t, b).ID)

		h := testutil.Command(t, a, "history", map[string]any{"room": "degraded", "channel": "start"})
		assert.Equal(t, []string{"degraded_001", "degraded_002"}, historyIDs(t, h))
		assert.Equal(t, false, h["complete"], "a message written while degraded lives only in the fallback")
	})

	t.Run("each state change is one WARN line", func(t *testing.T) {
		changes := 0
		for _, line := range strings.Split(p.Stderr(), "\n") {
			if strings.Contains(line, "storage state changed") {
				changes++
			}
		}
		assert.Equal(t, 2, changes, "ok→degraded at start, degraded→ok on recovery")
	})
}

// historyIDs lists the message ids of a history reply, oldest first.
func historyIDs(t *testing.T, reply map[string]any) []string {
	t.Helper()
	msgs, ok := reply["messages"].([]any)
	if !ok {
		t.Fatalf("history has no messages list: %v", reply)
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		env, _ := m.(map[string]any)
		id, _ := env["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// Pace and phases of the load tests: loadPublishers clients each send one
// message every loadInterval (500 messages/s in all); each phase lasts
// until enough replies of its kind came back: loadPhase acks before the
// fault, the fault's refusals while Redis is down, loadPhase acks after it
// is back.
const (
	loadPublishers = 10
	loadInterval   = 20 * time.Millisecond
	loadPhase      = 200
	loadPhaseLimit = 10 * time.Second // for one phase, or for the last replies
)

// loadFault is a Redis failure injected while clients publish.
type loadFault struct {
	name     string // what happens, as a subtest name
	label    string // the report's name: <label>-under-load
	down, up func(*redistest.RedisServer, testing.TB)
	// refusals ends the outage, once that many more writes were refused.
	// A connection's writes are refused one at a time: against a stopped
	// Redis each costs the client's dial retries (about 150 ms, some 70
	// refusals per second here), against a hung one ARQONBUS_REDIS_TIMEOUT
	// (20 per second); both outages last two to three seconds.
	refusals int64
}

func TestStrictStorageAcknowledgesOnlyWhatRedisHoldsWhenRedisFailsUnderLoad(t *testing.T) {
	t.Parallel()
	for _, f := range []loadFault{
		{name: "Redis is killed and started again", label: "kill", refusals: 200,
			down: (*redistest.RedisServer).Stop, up: (*redistest.RedisServer).Start},
		{name: "Redis hangs and resumes", label: "pause", refusals: 40,
			down: (*redistest.RedisServer).Pause, up: (*redistest.RedisServer).Unpause},
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			publishThroughFault(t, f)
		})
	}
}

// publishThroughFault runs the load against a strict node, injects f, lifts
// it, and checks every reply against what Redis holds afterwards. The
// numbers go to the test log and to build/e2e-<label>-under-load.txt.
func publishThroughFault(t *testing.T, f loadFault) {
	srv := redistest.RedisWithFaults(t)
	rdb := redistest.RedisClient(t, srv)
	// The harness runs Redis without persistence. A save point makes the
	// SIGTERM of Stop write a snapshot that Start loads, so what Redis held
	// when it went down can still be counted afterwards.
	const kept = "e2e:kept-across-restart"
	require.NoError(t, rdb.ConfigSet(testutil.Ctx(t), "save", "3600 1").Err())
	require.NoError(t, rdb.Set(testutil.Ctx(t), kept, "1", 0).Err())

	// History long enough that trimming never removes a message of the run.
	p := testutil.RunBinary(t, redisEnv(srv.URL(), "strict", "ARQONBUS_REDIS_TIMEOUT=500ms",
		"ARQONBUS_MAX_HISTORY_SIZE=1000000"))
	began := time.Now()
	load := startLoad(t, p.URL, "load", "fault", loadPublishers, loadInterval)

	waitCount(t, &load.acked, loadPhase, loadPhaseLimit, "acks before the fault")
	mark := time.Now()
	f.down(srv, t)
	downTook := time.Since(mark)
	downAfter := waitReadyz(t, p, http.StatusServiceUnavailable, "down", readyzDownWithin)
	waitCount(t, &load.refused, load.refused.Load()+f.refusals, loadPhaseLimit, "refusals while Redis is down")
	assert.Equal(t, http.StatusServiceUnavailable, readyz(t, p).code, "/readyz stays 503 while Redis is down")
	mark = time.Now()
	f.up(srv, t)
	upTook := time.Since(mark)
	if err := rdb.Get(testutil.Ctx(t), kept).Err(); err != nil {
		t.Fatalf("Redis did not keep its data across the restart, nothing can be counted: GET %s: %v", kept, err)
	}
	upAfter := waitReadyz(t, p, http.StatusOK, "ok", recoveryWithin)
	waitCount(t, &load.acked, load.acked.Load()+loadPhase, loadPhaseLimit, "acks after Redis came back")
	load.stopSending()
	if !testutil.Poll(loadPhaseLimit, func() bool { return load.unanswered() == 0 }) {
		t.Errorf("%d messages still have no reply %s after the last was sent", load.unanswered(), loadPhaseLimit)
	}
	if !testutil.Poll(loadPhaseLimit, func() bool { return load.undelivered() == 0 }) {
		t.Errorf("%d acknowledged messages never reached the subscriber", load.undelivered())
	}
	load.halt()
	elapsed := time.Since(began)

	n := load.tally(storedMessageIDs(t, rdb))
	line := fmt.Sprintf("%s-under-load: sent=%d acked=%d refused=%d found_in_redis=%d (acked missing=%d)",
		f.label, n.sent, n.acked, n.refused, n.foundInRedis, n.ackedMissing)
	detail := fmt.Sprintf("%s-under-load: other=%d refused_but_in_redis=%d refused_but_delivered=%d "+
		"fault_took=%s readyz_503_after=%s lift_took=%s readyz_200_after=%s publishers=%d interval=%s duration=%s",
		f.label, len(n.unexpected), n.refusedInRedis, n.refusedDelivered,
		downTook.Round(time.Millisecond), downAfter.Round(time.Millisecond),
		upTook.Round(time.Millisecond), upAfter.Round(time.Millisecond),
		loadPublishers, loadInterval, elapsed.Round(time.Millisecond))
	t.Log(line)
	t.Log(detail)
	report := fmt.Sprintf("%s\n%s\n%s\n", time.Now().UTC().Format(time.RFC3339), line, detail)
	file := filepath.Join("..", "..", "build", "e2e-"+f.label+"-under-load.txt")
	if err := os.WriteFile(file, []byte(report), 0o644); err != nil {
		t.Errorf("write %s: %v", file, err)
	}

	for _, v := range n.violations {
		t.Error(v)
	}
	for i, u := range n.unexpected {
		if i == maxViolations {
			t.Errorf("… and %d more unexpected", len(n.unexpected)-i)
			break
		}
		t.Errorf("unexpected: %s", u)
	}
	assert.Zero(t, len(n.unexpected), "every message gets exactly one reply (an ack or STORAGE_UNAVAILABLE) and nothing else comes")
	assert.Equal(t, n.sent, n.acked+n.refused, "every message gets exactly one reply")
	assert.Zero(t, n.ackedMissing, "every acknowledged message is in Redis")
	assert.Zero(t, n.refusedDelivered, "no refused message is delivered")
	assert.Positive(t, n.refused, "the fault refused messages")
}
