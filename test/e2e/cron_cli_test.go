//go:build e2e

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// scheduledLine is the stderr line of `arqon cron schedule` once its job
// is scheduled.
const scheduledLine = "scheduled; keeping the connection open until its last firing (Ctrl-C cancels it)"

func TestArqonCronScheduleStaysConnectedUntilTheLastFiringThenExitsZero(t *testing.T) {
	t.Parallel()
	srv, member := cronBus(t)

	var stdout testutil.LogBuffer
	arqon := testutil.StartArqon(t, &stdout, []string{"ARQON_URL=" + srv.URL},
		"cron", "schedule", "science:explore", `{"n":1}`, "--delay", "0.2", "--interval", "1", "--repeat", "2")
	first := expectFiring(t, member)
	assert.Equal(t, 1, first.iteration)
	assert.Equal(t, cronFiring{first.job, 2}, expectFiring(t, member), "the second firing: arqon was still connected")
	assert.Equal(t, 0, arqon.WaitExit(t, testutil.Timeout), "arqon ends by itself after the last firing")

	assert.Contains(t, stdout.String(), `"job_id":"`+first.job+`"`, "the reply is printed")
	assert.Contains(t, arqon.Stderr.String(), "arqon: job "+first.job+" "+scheduledLine)
	eventuallyCronCancelled(t, srv, "completed", "the job completes rather than ending with the connection")
}

func TestArqonCronScheduleStopsAtOnceOnCtrlCAndItsJobFiresNoMore(t *testing.T) {
	t.Parallel()
	srv, member := cronBus(t)

	arqon := testutil.StartArqon(t, nil, []string{"ARQON_URL=" + srv.URL},
		"cron", "schedule", "science:explore", `{"n":1}`, "--delay", "0.2", "--interval", "1", "--repeat", "100")
	first := expectFiring(t, member)
	assert.Equal(t, 1, first.iteration)
	testutil.Eventually(t, func() bool { return strings.Contains(arqon.Stderr.String(), scheduledLine) },
		testutil.Timeout, "the scheduled line on stderr")

	require.NoError(t, arqon.Process().Signal(syscall.SIGINT))
	assert.Equal(t, 0, arqon.WaitExit(t, testutil.ArqonInterruptBound), "Ctrl-C is how a schedule ends early")
	eventuallyCronCancelled(t, srv, "disconnect", "the disconnect cancels the job")
	// A firing due before the disconnect may still be on its way; after
	// the cancellation was counted, none follows.
	for {
		env, err := member.RecvTimeout(100 * time.Millisecond)
		if err != nil {
			break
		}
		assert.Equal(t, "op-cron", env.Sender, "only firings arrive")
	}
	testutil.ExpectNone(t, member, 2*time.Second) // two intervals: the job fires no more
}
