package regression

import (
	"net/http"
	"strings"
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

// Reads marked storage down for everyone. One tenant's history reads of
// large messages kept Redis busy serialising hundreds of MB; the reads ran
// past ARQONBUS_REDIS_TIMEOUT, and the storage policy took each timed-out
// read for an outage (SPEC §7): in strict mode the node logged ok→down,
// /readyz answered 503 and other tenants' publishes got STORAGE_UNAVAILABLE
// (in degraded mode their messages went to the memory fallback). A read's
// failure is now the reader's alone: it is answered STORAGE_UNAVAILABLE
// and the state, which writes and the probe decide, stays ok.
func TestRegression_HistoryReadsThatTimeOutLeaveStorageReadyForEveryoneElse(t *testing.T) {
	mr := redistest.MiniRedis(t)
	// Only the heavy tenant's stream reads stall, as Redis is slow for
	// them alone while it serialises their replies.
	proxy := redistest.NewStallProxy(t, mr.Addr(), "xrevrange", "{heavy:")
	s := testutil.StartServer(t, testutil.WithRedis(proxy.URL(), config.ModeStrict),
		testutil.WithAuth(secret), testutil.WithConfig(func(c *config.Config) {
			c.RedisTimeout = 200 * time.Millisecond
		}))
	dial := func(sub, tenant string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, testutil.Claims(sub, tenant, "user"))})
	}
	heavy, other := dial("reader", "heavy"), dial("writer", "other")
	testutil.Publish(t, heavy, "big", "main", map[string]string{"p": "x"})
	history := func() *protocol.Envelope {
		return testutil.Request(t, heavy, &protocol.Envelope{Type: protocol.TypeCommand, Command: "history",
			Args: []byte(`{"room":"big","channel":"main","limit":500}`)})
	}
	require.Equal(t, protocol.StatusSuccess, history().Status, "the heavy tenant's reads work before the stall")

	proxy.Stall()
	for range 3 {
		reply := history()
		assert.Equal(t, string(protocol.CodeStorageUnavailable), reply.ErrorCode, "the stalled read fails for its reader")
	}
	code, body := s.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code, "readiness is not the heavy reader's to take away: %s", body)
	ack := testutil.Publish(t, other, "news", "main", map[string]int{"n": 1})
	assert.True(t, ack.Persisted, "another tenant's publish is stored and acknowledged")
	assert.NotContains(t, s.Logs.String(), "storage state changed", "no ok→down line")
	assert.Positive(t, s.Counter(t, "storage_operations_total", "history", "error"), "the failed reads were counted")

	proxy.Release()
	reply := history()
	require.Equal(t, protocol.StatusSuccess, reply.Status, "the reads answer again once Redis does")
	assert.True(t, strings.Contains(string(reply.Payload), `"p":"x"`))
}
