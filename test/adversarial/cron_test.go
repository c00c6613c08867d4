package adversarial

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

const cronFrameLimit = 4096 // bytes: ARQONBUS_MAX_MESSAGE_SIZE of these tests

func cronServer(t *testing.T) *testutil.Server {
	t.Helper()
	return start(t, unlimited, tolerant, func(c *config.Config) {
		c.CronMaxJobsPerClient, c.CronMaxJobs = 4, 6
		c.MaxMessageSize = cronFrameLimit
	})
}

// TestSchedulingPastTheLimitsIsRefusedAndTheConnectionStaysServed loops
// op.cron.schedule far past both limits: every extra job is LIMIT_EXCEEDED,
// the node holds no more than its bound and the bystanders are still served.
func TestSchedulingPastTheLimitsIsRefusedAndTheConnectionStaysServed(t *testing.T) {
	s := cronServer(t)
	b := newBystander(t, s)
	args := `{"room":"r","channel":"c","payload":{},"delay_seconds":3600}`
	refused := 0
	for i := 0; i < 3; i++ {
		c := testutil.Dial(t, s)
		for range 50 {
			r := kvCall(t, c, "op.cron.schedule", args)
			if r.Status != protocol.StatusSuccess {
				require.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode, "reply %s", protocol.Encode(r))
				assert.Contains(t, r.Error, "ARQONBUS_CRON_MAX_JOBS")
				refused++
			}
		}
		assertStillOpen(t, c)
	}
	assert.Equal(t, 150-6, refused)
	assert.InDelta(t, 6, s.Counter(t, "cron_jobs"), 0)
	b.stillServed(t)
}

// TestHostileCronArgumentsAreValidationErrors sends bounds just past each
// limit, an interval below the minimum, huge and negative counts and
// payloads that are not objects: each is one VALIDATION_ERROR without
// internals, and no job is scheduled.
func TestHostileCronArgumentsAreValidationErrors(t *testing.T) {
	s := cronServer(t)
	c := testutil.Dial(t, s)
	base := `"room":"r","channel":"c"`
	for name, args := range map[string]string{
		"an interval below the minimum":   `{` + base + `,"payload":{},"repeat_count":3,"interval_seconds":0.999}`,
		"a zero interval":                 `{` + base + `,"payload":{},"repeat_count":3,"interval_seconds":0}`,
		"a negative interval":             `{` + base + `,"payload":{},"repeat_count":3,"interval_seconds":-1}`,
		"an interval of 1e308":            `{` + base + `,"payload":{},"repeat_count":3,"interval_seconds":1e308}`,
		"a repeat count of 100001":        `{` + base + `,"payload":{},"repeat_count":100001,"interval_seconds":1}`,
		"a repeat count of 2^63-1":        `{` + base + `,"payload":{},"repeat_count":9223372036854775807,"interval_seconds":1}`,
		"a repeat count past int64":       `{` + base + `,"payload":{},"repeat_count":9223372036854775808,"interval_seconds":1}`,
		"a negative repeat count":         `{` + base + `,"payload":{},"repeat_count":-5,"interval_seconds":1}`,
		"a fractional repeat count":       `{` + base + `,"payload":{},"repeat_count":2.5,"interval_seconds":1}`,
		"a delay of 1e400":                `{` + base + `,"payload":{},"delay_seconds":1e400}`,
		"a delay of zero":                 `{` + base + `,"payload":{},"delay_seconds":0}`,
		"an array payload":                `{` + base + `,"payload":[{"a":1}]}`,
		"a string payload":                `{` + base + `,"payload":"{\"a\":1}"}`,
		"a number payload":                `{` + base + `,"payload":42}`,
		"a null payload":                  `{` + base + `,"payload":null}`,
		"no payload":                      `{` + base + `}`,
		"a payload with a stray argument": `{` + base + `,"payload":{},"tenant":"globex"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := kvCall(t, c, "op.cron.schedule", args)
			require.Equal(t, string(protocol.CodeValidation), r.ErrorCode, "reply %s", protocol.Encode(r))
			assertNoInternals(t, r, name)
		})
	}
	assert.InDelta(t, 0, s.Counter(t, "cron_jobs"), 0)
	assertStillOpen(t, c)
}

// TestAPayloadNearTheFrameLimitFiresIntact schedules a payload that fills
// the frame up to a few bytes of the limit: the firing reaches the member
// byte for byte.
func TestAPayloadNearTheFrameLimitFiresIntact(t *testing.T) {
	s := cronServer(t)
	c := testutil.Dial(t, s)
	testutil.Join(t, c, "r", "c")
	frame := func(fill string) string {
		return `{"type":"command","id":"big","command":"op.cron.schedule","args":{"room":"r","channel":"c","delay_seconds":0.1,"payload":{"fill":"` + fill + `"}}}`
	}
	fill := strings.Repeat("x", cronFrameLimit-len(frame(""))-8)
	require.Less(t, len(frame(fill)), cronFrameLimit)
	sendText(t, c, frame(fill))
	reply := testutil.Expect(t, c)
	require.Equal(t, protocol.StatusSuccess, reply.Status, "reply %s", protocol.Encode(reply))
	got := testutil.Expect(t, c)
	require.Equal(t, protocol.TypeMessage, got.Type, "firing %s", protocol.Encode(got))
	assert.Equal(t, "op-cron", got.Sender)
	assert.JSONEq(t, fmt.Sprintf(`{"fill":%q}`, fill), string(got.Payload))
	var meta map[string]any
	require.NoError(t, json.Unmarshal(got.Metadata, &meta))
	assert.EqualValues(t, 1, meta["iteration"])
	testutil.Eventually(t, func() bool { return s.Counter(t, "cron_cancellations_total", "completed") == 1 },
		testutil.Timeout, "the one-shot job completes")
}
