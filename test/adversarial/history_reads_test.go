package adversarial

import (
	"fmt"
	"strings"
	"sync"
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

// stalledReadsServer runs a server on Redis behind a proxy that holds the
// history reads (XREVRANGE) of tenant "greedy" while stalled, with reads
// allowed to wait long enough for the test to act while they are held.
func stalledReadsServer(t *testing.T, readsPerTenant int) (*testutil.Server, *redistest.StallProxy) {
	t.Helper()
	mr := redistest.MiniRedis(t)
	proxy := redistest.NewStallProxy(t, mr.Addr(), "xrevrange", "{greedy:")
	s := testutil.StartServer(t, testutil.WithRedis(proxy.URL(), config.ModeStrict),
		testutil.WithAuth(tokenSecret), testutil.WithConfig(func(c *config.Config) {
			c.RedisTimeout = 20 * time.Second
			c.HistoryReadsPerTenant = readsPerTenant
		}))
	return s, proxy
}

func tenantClient(t *testing.T, s *testutil.Server, sub, tenant string) *client.Client {
	t.Helper()
	return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, tokenSecret, testutil.Claims(sub, tenant, "user"))})
}

func historyOf(room string) *protocol.Envelope {
	return &protocol.Envelope{Type: protocol.TypeCommand, Command: "history",
		Args: []byte(fmt.Sprintf(`{"room":%q,"channel":"main","limit":500}`, room))}
}

// awaitStalls waits for n reads to be held at the proxy.
func awaitStalls(t *testing.T, proxy *redistest.StallProxy, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-proxy.Stalled():
		case <-time.After(testutil.Timeout):
			t.Fatalf("only %d of %d reads reached Redis", i, n)
		}
	}
}

// A tenant that keeps many slow history reads running at once (large
// pages, a busy Redis) gets its extra reads refused at once with
// RATE_LIMIT_EXCEEDED, while another tenant's reads are answered at that
// same moment and the refused tenant reads again once its reads are done.
func TestATenantOverItsConcurrentHistoryReadsIsRefusedWhileAnotherTenantReads(t *testing.T) {
	const bound = 4
	s, proxy := stalledReadsServer(t, bound)
	calm := tenantClient(t, s, "calm-reader", "calm")
	testutil.Publish(t, calm, "news", "main", map[string]int{"n": 1})
	greedy := make([]*client.Client, bound+1)
	for i := range greedy {
		greedy[i] = tenantClient(t, s, fmt.Sprintf("greedy-%d", i), "greedy")
	}
	testutil.Publish(t, greedy[0], "big", "main", map[string]int{"n": 1})

	proxy.Stall()
	var wg sync.WaitGroup
	held := make(chan *protocol.Envelope, bound)
	for _, c := range greedy[:bound] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held <- testutil.Request(t, c, historyOf("big"))
		}()
	}
	awaitStalls(t, proxy, bound)

	refused := testutil.Request(t, greedy[bound], historyOf("big"))
	assert.Equal(t, string(protocol.CodeRateLimitExceeded), refused.ErrorCode)
	assert.Contains(t, string(refused.Payload), config.VarHistoryReadsTenant, "the refusal names the setting")
	assert.Equal(t, 1.0, s.Counter(t, "history_reads_refused_total"))

	answer := testutil.Command(t, calm, "history", map[string]any{"room": "news", "channel": "main"})
	assert.Len(t, answer["messages"], 1, "the other tenant's read is answered while greedy is at its bound")

	proxy.Release()
	wg.Wait()
	close(held)
	for reply := range held {
		assert.Equal(t, protocol.StatusSuccess, reply.Status, "the reads inside the bound are answered: %s", protocol.Encode(reply))
	}
	again := testutil.Command(t, greedy[bound], "history", map[string]any{"room": "big", "channel": "main"})
	assert.Len(t, again["messages"], 1, "greedy reads again once its reads are done")
}

// One connection gets no more than one read in flight whatever it sends:
// its frames are handled one after another, so history commands sent
// back to back wait for each other instead of being refused, even with a
// bound of one read per tenant.
func TestHistoryCommandsOfOneConnectionRunOneAtATime(t *testing.T) {
	s, proxy := stalledReadsServer(t, 1)
	c := tenantClient(t, s, "piper", "greedy")
	testutil.Publish(t, c, "big", "main", map[string]int{"n": 1})

	proxy.Stall()
	const sent = 5
	for i := range sent {
		sendText(t, c, fmt.Sprintf(`{"id":"h%d","type":"command","command":"history","args":{"room":"big","channel":"main"}}`, i))
	}
	awaitStalls(t, proxy, 1)
	select {
	case <-proxy.Stalled():
		t.Fatal("a second read of the same connection reached Redis while the first was held")
	case <-time.After(300 * time.Millisecond):
	}

	proxy.Release()
	for i := range sent {
		got, err := c.RecvTimeout(testutil.Timeout)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("h%d", i), got.RequestID, "answered in the order sent")
		assert.Equal(t, protocol.StatusSuccess, got.Status, "none refused: %s", protocol.Encode(got))
	}
}

// A tenant that reads large history pages back to back is held to its
// bytes per second: once a read has taken more than its bucket held, the
// next is refused at once with RATE_LIMIT_EXCEEDED naming the setting,
// another tenant reads at that same moment, and the greedy tenant reads
// again once it has waited out its debt. Without the bound one tenant's
// reads could keep Redis, which serves one command at a time, busy for
// everyone's writes.
func TestATenantReadingHistoryFasterThanItsByteRateIsRefusedWhileAnotherTenantReads(t *testing.T) {
	const rate = 512 << 10
	s := testutil.StartServer(t, testutil.WithAuth(tokenSecret), testutil.WithConfig(func(c *config.Config) {
		c.HistoryReadBytesPerSecond = rate
	}))
	calm := tenantClient(t, s, "calm-reader", "calm")
	testutil.Publish(t, calm, "news", "main", map[string]int{"n": 1})
	greedy := tenantClient(t, s, "greedy-reader", "greedy")
	blob := strings.Repeat("x", 300<<10)
	for range 4 {
		testutil.Publish(t, greedy, "big", "main", map[string]string{"blob": blob})
	}

	first := testutil.Request(t, greedy, historyOf("big"))
	require.Equal(t, protocol.StatusSuccess, first.Status, "a full bucket lets a read in: %.200s", protocol.Encode(first))
	start := time.Now()
	refused := testutil.Request(t, greedy, historyOf("big"))
	assert.Equal(t, string(protocol.CodeRateLimitExceeded), refused.ErrorCode, "a read that took ~1 MiB leaves a 512 KiB/s bucket in debt")
	assert.Contains(t, string(refused.Payload), config.VarHistoryReadBytesRate, "the refusal names the setting")
	assert.Equal(t, 1.0, s.Counter(t, "history_reads_refused_total"))

	answer := testutil.Command(t, calm, "history", map[string]any{"room": "news", "channel": "main"})
	assert.Len(t, answer["messages"], 1, "the other tenant's bucket is its own")

	require.Eventually(t, func() bool {
		return testutil.Request(t, greedy, historyOf("big")).Status == protocol.StatusSuccess
	}, testutil.Timeout, 100*time.Millisecond, "greedy reads again once its debt is paid")
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "but not before it has waited for it")
}
