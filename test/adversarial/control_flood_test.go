package adversarial

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §2: control frames count against the per-connection rate limit like
// data frames. A client flooding pings (or pongs nobody asked for) is closed
// with 4029, counted and logged long before the grace period a data flood
// gets, while a client pinging a few times a second keeps its connection
// and its pongs, and a bystander is served throughout.
func TestAControlFrameFloodIsClosedWith4029WhileKeepalivePingsStay(t *testing.T) {
	const grace = 30 * time.Second // far longer than the test: the flood is closed on its own path
	for _, tc := range []struct {
		name string
		op   byte
	}{
		{"a ping flood", testutil.OpPing},
		{"a flood of pongs nobody asked for", testutil.OpPong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, func(c *config.Config) {
				c.RateLimitPerSecond, c.RateLimitBurst, c.RateLimitGrace = 100, 100, grace
			})
			by := newBystander(t, s)

			// A polite client pings ten times a second, under the limit.
			polite := testutil.DialRawWS(t, s)
			politePing := func() {
				t.Helper()
				require.NoError(t, polite.Write(true, testutil.OpPing, []byte("keepalive")))
				op, payload, err := polite.ReadFrame(testutil.Timeout)
				require.NoError(t, err, "a pong for the keepalive ping")
				require.Equal(t, byte(testutil.OpPong), op, "a pong for the keepalive ping")
				require.Equal(t, "keepalive", string(payload))
			}
			politePing()

			hostile := testutil.DialRawWS(t, s)
			ended := make(chan int, 1)
			go func() {
				code, _ := hostile.EndCode(closeWait)
				ended <- code
			}()
			batch := bytes.Repeat(testutil.ClientFrame(testutil.FinBit|tc.op, nil, false), 1000)
			began := time.Now()
			sent := 0
			var code int
		flood:
			for {
				select {
				case code = <-ended:
					break flood
				default:
				}
				if hostile.WriteBytes(batch) != nil {
					code = <-ended
					break
				}
				sent += 1000
			}
			elapsed := time.Since(began)
			t.Logf("sent %d control frames in %s before the close", sent, elapsed)
			assert.Equal(t, protocol.CloseRateLimited, code, "the flooder is closed with 4029")
			assert.Less(t, elapsed, closeWait, "closed long before the grace period of %s", grace)
			assert.Positive(t, s.Counter(t, "messages_dropped_total", metrics.DropControlFlood))
			testutil.Eventually(t, func() bool { return s.Logs.Contains("control frame flood") },
				testutil.Timeout, "a log line for the control frame flood")

			tick := time.NewTicker(100 * time.Millisecond) // ten keepalive pings a second
			defer tick.Stop()
			for range 10 {
				<-tick.C
				politePing()
			}
			assertStillOpenRaw(t, polite)
			by.stillServed(t)
		})
	}
}

// assertStillOpenRaw proves a raw connection is alive with a ping command.
func assertStillOpenRaw(t *testing.T, r *testutil.RawWS) {
	t.Helper()
	require.NoError(t, r.Write(true, testutil.OpText, []byte(`{"id":"still-open","type":"command","command":"ping"}`)))
	_, payload, err := r.ReadMessage(testutil.Timeout)
	require.NoError(t, err, "the connection stays open")
	assert.Contains(t, string(payload), `"pong":true`)
}
