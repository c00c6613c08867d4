package unit

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

func TestStrictStorageRefusesAndDoesNotDeliverWhenRedisFails(t *testing.T) {
	mr := redistest.MiniRedis(t)
	s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict))
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, b, "r", "c")
	ack := testutil.Publish(t, a, "r", "c", map[string]int{"n": 1})
	assert.True(t, ack.Persisted)
	testutil.Expect(t, b)

	mr.SetError("READONLY You can't write against a read only replica.")
	_, err := a.Publish(testutil.Ctx(t), "r", "c", map[string]int{"n": 2})
	require.Error(t, err)
	assert.Equal(t, protocol.CodeStorageUnavailable, protocol.AsWire(err).Code)
	testutil.ExpectNone(t, b, 200*time.Millisecond)
	code, body := s.Get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.JSONEq(t, `{"status":"not_ready","storage":"down","draining":false}`, body)

	mr.SetError("")
	testutil.Eventually(t, func() bool { c, _ := s.Get(t, "/readyz"); return c == http.StatusOK }, 5*time.Second, "readyz back to 200")
	testutil.Publish(t, a, "r", "c", map[string]int{"n": 3})
	got := testutil.Expect(t, b)
	assert.JSONEq(t, `{"n":3}`, string(got.Payload))
}

func TestDegradedStorageStartsWithRedisDownAndSaysSo(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithRedis("redis://127.0.0.1:1/0", config.ModeDegraded),
		testutil.WithConfig(func(c *config.Config) { c.RedisTimeout = 200 * time.Millisecond }))
	a := testutil.Dial(t, s)
	ack := testutil.Publish(t, a, "r", "c", map[string]int{"n": 1})
	assert.True(t, ack.Persisted, "the memory fallback holds it")

	testutil.Eventually(t, func() bool {
		_, body := s.Get(t, "/readyz")
		return body == `{"draining":false,"status":"ready","storage":"degraded"}`+"\n"
	}, 5*time.Second, "readyz says degraded")
	st := testutil.Command(t, a, "status", nil)
	assert.Equal(t, true, st["storage"].(map[string]any)["degraded"])
	assert.Equal(t, 1.0, s.Counter(t, "storage_degraded"))
	assert.GreaterOrEqual(t, s.Counter(t, "storage_fallback_writes_total"), 1.0)

	h := testutil.Command(t, a, "history", map[string]any{"room": "r", "channel": "c"})
	assert.Len(t, h["messages"], 1)
	assert.Equal(t, false, h["complete"], "history across a degraded period cannot prove it has no gaps")
	assert.True(t, s.Logs.Contains("level=WARN"), "the state change is logged")
}
