//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// cronFiring is a received firing's job id and iteration.
type cronFiring struct {
	job       string
	iteration int
}

// expectFiring waits for the next frame of c and requires a cron firing.
func expectFiring(t *testing.T, c *client.Client) cronFiring {
	t.Helper()
	env, err := c.RecvTimeout(10 * time.Second)
	require.NoError(t, err, "a firing")
	require.Equal(t, protocol.TypeMessage, env.Type, "firing %s", protocol.Encode(env))
	assert.Equal(t, "op-cron", env.Sender)
	assert.Equal(t, "op-cron", env.FromClient)
	var meta struct {
		Job       string `json:"cron_job_id"`
		Iteration int    `json:"iteration"`
	}
	require.NoError(t, json.Unmarshal(env.Metadata, &meta), "metadata %s", env.Metadata)
	return cronFiring{meta.Job, meta.Iteration}
}

// cronBus starts a dev server and returns it with a member joined to
// science:explore, the channel the cron tests schedule into.
func cronBus(t *testing.T) (*testutil.Proc, *client.Client) {
	t.Helper()
	p := testutil.RunBinary(t, devEnv())
	member := dial(t, p.URL)
	testutil.Join(t, member, "science", "explore")
	return p, member
}

// eventuallyCronCancelled waits until p has counted one cron job ended for
// reason, failing with msg otherwise.
func eventuallyCronCancelled(t *testing.T, p *testutil.Proc, reason, msg string) {
	t.Helper()
	testutil.Eventually(t, func() bool {
		return scrape(t, p).Get(t, "cron_cancellations_total", reason) == 1
	}, 5*time.Second, "%s", msg)
}

// scheduledCronJob starts a cron bus (see cronBus) and returns it with the
// owner of a job scheduled there to fire repeat times, the member and the
// job's id.
func scheduledCronJob(t *testing.T, repeat int) (p *testutil.Proc, owner, member *client.Client, job string) {
	t.Helper()
	p, member = cronBus(t)
	owner = dial(t, p.URL)
	return p, owner, member, schedule(t, owner, repeat)
}

func schedule(t *testing.T, c *client.Client, repeat int) string {
	t.Helper()
	data := testutil.Command(t, c, "op.cron.schedule", map[string]any{
		"room": "science", "channel": "explore", "payload": map[string]any{"tick": true},
		"delay_seconds": 0.2, "interval_seconds": 1, "repeat_count": repeat})
	return data["job_id"].(string)
}

// cronEnded reports whether the log holds the "cron job ended" line of job
// with reason.
func cronEnded(log, job, reason string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "cron job ended") && strings.Contains(line, job) && strings.Contains(line, "reason="+reason) {
			return true
		}
	}
	return false
}

func TestCronJobFiresFiveTimesToAMemberAndLandsInHistory(t *testing.T) {
	t.Parallel()
	p, _, member, job := scheduledCronJob(t, 5)
	for i := 1; i <= 5; i++ {
		assert.Equal(t, cronFiring{job, i}, expectFiring(t, member))
	}
	eventuallyCronCancelled(t, p, "completed", "the job completes")

	h := testutil.Command(t, member, "history", map[string]any{"room": "science", "channel": "explore"})
	msgs, _ := h["messages"].([]any)
	require.Len(t, msgs, 5, "every firing is stored")
	for i, m := range msgs {
		meta, _ := m.(map[string]any)["metadata"].(map[string]any)
		assert.Equal(t, job, meta["cron_job_id"])
		assert.EqualValues(t, i+1, meta["iteration"])
	}
	e := scrape(t, p)
	assert.InDelta(t, 5, e.Get(t, "cron_firings_total", "ok"), 0)
	assert.InDelta(t, 0, e.Get(t, "cron_jobs"), 0)
}

func TestCronOwnersDisconnectEndsItsJob(t *testing.T) {
	t.Parallel()
	p, owner, member, job := scheduledCronJob(t, 5)
	assert.Equal(t, cronFiring{job, 1}, expectFiring(t, member))
	assert.Equal(t, cronFiring{job, 2}, expectFiring(t, member))
	require.NoError(t, owner.Close())

	eventuallyCronCancelled(t, p, "disconnect", "the disconnect cancels the job")
	testutil.Eventually(t, func() bool { return cronEnded(p.Stderr(), job, "disconnect") },
		5*time.Second, "the cancellation's log line")
	testutil.ExpectNone(t, member, 2*time.Second) // two intervals: no third firing
	assert.InDelta(t, 0, scrape(t, p).Get(t, "cron_jobs"), 0)
}

func TestSIGTERMDuringACronJobCancelsItAndExitsZero(t *testing.T) {
	t.Parallel()
	p, _, member, job := scheduledCronJob(t, 100)
	assert.Equal(t, cronFiring{job, 1}, expectFiring(t, member))

	p.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, p.Wait(t, 30*time.Second), "stderr:\n%s", p.Stderr())
	assert.True(t, cronEnded(p.Stderr(), job, "shutdown"), "the shutdown cancellation is logged:\n%s", p.Stderr())
	assert.Less(t, strings.Index(p.Stderr(), "cron job ended"), strings.Index(p.Stderr(), "draining"),
		"jobs end before the bus drains")
}
