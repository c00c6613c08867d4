package adversarial

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// burstOfPings sends n ping commands on c at once and sorts the n replies
// into answered and refused (RATE_LIMIT_EXCEEDED, with the last refusal's
// text). Any other reply, or a missing one, fails the test.
func burstOfPings(t *testing.T, c *client.Client, n int) (answered, refused int, why string) {
	t.Helper()
	for i := range n {
		sendText(t, c, fmt.Sprintf(`{"id":"p%d","type":"command","command":"ping"}`, i))
	}
	for range n {
		got, err := c.RecvTimeout(testutil.Timeout)
		require.NoError(t, err, "every frame gets its one reply")
		switch {
		case got.Status == protocol.StatusSuccess:
			answered++
		case got.ErrorCode == string(protocol.CodeRateLimitExceeded):
			refused++
			why = string(got.Payload)
		default:
			t.Fatalf("unexpected reply %s", protocol.Encode(got))
		}
	}
	return answered, refused, why
}

// A tenant that spreads a flood over several connections, each inside its
// own rate limit, is held to the bound on the tenant as a whole: together
// its connections get no more than the tenant's bucket, the refusals name
// the setting and are counted apart, and another tenant sending at the
// same moment has every frame answered.
func TestATenantFloodingFromManyConnectionsIsHeldToItsSharedRate(t *testing.T) {
	const perConn, tenantRate, conns = 1000, 150, 4
	s := testutil.StartServer(t, testutil.WithAuth(tokenSecret), testutil.WithConfig(func(c *config.Config) {
		c.RateLimitPerSecond, c.RateLimitBurst = perConn, perConn
		c.TenantRateLimitPerSecond = tenantRate
	}))
	loud := make([]*client.Client, conns)
	for i := range loud {
		loud[i] = tenantClient(t, s, fmt.Sprintf("loud-%d", i), "loud")
	}
	calm := tenantClient(t, s, "calm-sender", "calm")

	total, refused := 0, 0
	var why string
	for _, c := range loud {
		a, r, w := burstOfPings(t, c, 100) // 100 is well inside each connection's own 1000
		total, refused = total+a, refused+r
		if w != "" {
			why = w
		}
	}
	assert.LessOrEqual(t, total, tenantRate+10, "the tenant's connections together stay near one bucket (150, plus what refills meanwhile)")
	assert.Positive(t, refused)
	assert.Contains(t, why, config.VarTenantRateLimit, "the refusal names the setting")
	assert.Equal(t, float64(refused), s.Counter(t, "messages_dropped_total", metrics.DropTenantRateLimited))
	assert.Zero(t, s.Counter(t, "messages_dropped_total", metrics.DropRateLimited), "no connection passed its own limit")

	a, r, _ := burstOfPings(t, calm, 100)
	assert.Equal(t, 100, a, "another tenant's bucket is its own")
	assert.Zero(t, r)
}
