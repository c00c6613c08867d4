package regression

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// cronErr schedules a job an hour away and returns the error reply, if any.
func cronErr(t *testing.T, c *client.Client) *protocol.Error {
	t.Helper()
	_, err := c.Command(testutil.Ctx(t), "op.cron.schedule", map[string]any{
		"room": "r", "channel": "c", "payload": map[string]any{"tick": true}, "delay_seconds": 3600})
	if err == nil {
		return nil
	}
	var we *protocol.Error
	require.True(t, errors.As(err, &we), "a wire error: %v", err)
	return we
}

// The original cron lane kept every job a client asked for: one client
// could schedule jobs in a loop until the node ran out of memory, and no
// node-wide bound existed either. Now a connection holds at most
// ARQONBUS_CRON_MAX_JOBS_PER_CLIENT jobs and a node ARQONBUS_CRON_MAX_JOBS,
// each refused with LIMIT_EXCEEDED naming the variable (SPEC §11.2).
func TestRegression_CronJobsAreBoundedPerClientAndPerNode(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.CronMaxJobsPerClient, c.CronMaxJobs = 2, 3
	}))
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	require.Nil(t, cronErr(t, a))
	require.Nil(t, cronErr(t, a))
	we := cronErr(t, a)
	require.NotNil(t, we, "a third job of one connection is refused")
	assert.Equal(t, protocol.CodeLimitExceeded, we.Code)
	assert.Contains(t, we.Message, config.VarCronMaxJobsPerClient)

	require.Nil(t, cronErr(t, b))
	we = cronErr(t, b)
	require.NotNil(t, we, "a fourth job of the node is refused")
	assert.Equal(t, protocol.CodeLimitExceeded, we.Code)
	assert.Contains(t, we.Message, config.VarCronMaxJobs+" ")
	assert.InDelta(t, 3, s.Counter(t, "cron_jobs"), 0)
}

// The original cancelled a disconnected client's jobs in a cleanup path
// that swallowed every error: a job whose cancellation failed kept firing
// for nobody, and nothing in the logs or metrics told it happened. Now each
// job ended by its owner's disconnect is one log line (job id, owner,
// tenant, reason) and one count of cron_cancellations_total{reason=
// "disconnect"} (SPEC §11.2).
func TestRegression_ACronCancellationOnDisconnectIsLoggedAndCounted(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	var ids []string
	for range 2 {
		data := testutil.Command(t, c, "op.cron.schedule", map[string]any{
			"room": "r", "channel": "c", "payload": map[string]any{}, "delay_seconds": 3600})
		ids = append(ids, data["job_id"].(string))
	}
	owner := c.ID()
	require.NoError(t, c.Close())

	testutil.Eventually(t, func() bool {
		return s.Counter(t, "cron_cancellations_total", "disconnect") == 2
	}, 5*time.Second, "both jobs cancelled on disconnect")
	assert.InDelta(t, 0, s.Counter(t, "cron_jobs"), 0)
	for _, id := range ids {
		line := ""
		for _, l := range strings.Split(s.Logs.String(), "\n") {
			if strings.Contains(l, "job_id="+id) {
				line = l
			}
		}
		assert.Contains(t, line, `msg="cron job ended"`, id)
		assert.Contains(t, line, "owner="+owner, id)
		assert.Contains(t, line, "reason=disconnect", id)
	}
}
