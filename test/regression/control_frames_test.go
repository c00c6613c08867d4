package regression

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// TestRegression_ControlFramesCountAgainstTheRateLimit: gorilla answers
// pings inside its read call, so they never reached the per-connection rate
// limit. One connection sent 27 million pings in 8 seconds; the server
// spent 7.6 CPU seconds answering them and never closed it, logged it or
// counted it. Pings, and pongs that answer no ping of the server's, now
// take the rate limiter's tokens: over the limit they go unanswered and are
// counted under messages_dropped_total{reason="control_flood"}, and a flood
// is closed with 4029 and logged. A keepalive ping is still answered.
func TestRegression_ControlFramesCountAgainstTheRateLimit(t *testing.T) {
	s := testutil.StartServer(t) // the default limit: 1000 frames/s, burst 2000

	keepalive := testutil.DialRawWS(t, s)
	require.NoError(t, keepalive.Write(true, testutil.OpPing, []byte("hi")))
	op, payload, err := keepalive.ReadFrame(testutil.Timeout)
	require.NoError(t, err)
	assert.Equal(t, byte(testutil.OpPong), op, "a keepalive ping is answered")
	assert.Equal(t, "hi", string(payload))

	flood := testutil.DialRawWS(t, s)
	batch := bytes.Repeat(testutil.ClientFrame(testutil.FinBit|testutil.OpPing, nil, false), 10000)
	for range 100 { // a million pings at most; the close comes far sooner
		if flood.WriteBytes(batch) != nil {
			break
		}
	}
	assert.Equal(t, protocol.CloseRateLimited, flood.AwaitEnd(t, testutil.Timeout))
	assert.Positive(t, s.Counter(t, "messages_dropped_total", metrics.DropControlFlood))
	testutil.Eventually(t, func() bool { return s.Logs.Contains("control frame flood") },
		testutil.Timeout, "the flood to be logged")

	require.NoError(t, keepalive.Write(true, testutil.OpPing, []byte("still")))
	op, payload, err = keepalive.ReadFrame(testutil.Timeout)
	require.NoError(t, err)
	assert.Equal(t, byte(testutil.OpPong), op, "the keepalive connection is unharmed")
	assert.Equal(t, "still", string(payload))
}
