package regression

import (
	"context"
	"net"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// The harness paused a Redis container with Docker's pause. The engine records
// "paused" and "resumed" both from the call and from an event queue, so a resume
// event still queued from one Unpause could mark the next, freshly paused
// container as running; the Unpause or Stop that followed was refused ("is not
// paused") and the server stayed frozen, failing whichever fault test ran it.
// Now a paused server is one whose processes are stopped by SIGSTOP, so every
// Pause is answered by silence and every Unpause by PONG, however fast they come.
// The race needs a loaded engine to show; TestContainerPauseLeavesTheEnginesStateAlone
// (internal/testutil/redistest) pins the mechanism on any engine.
func TestRegression_RedisFaultControlsHoldOverRapidPauseCycles(t *testing.T) {
	srv := redistest.RedisWithFaults(t)
	c := redistest.RedisClient(t, srv)
	ping := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return c.Ping(ctx).Err()
	}
	require.NoError(t, ping(2*time.Second), "control: the server answers before any fault")

	for i := range 15 {
		srv.Pause(t)
		require.Error(t, ping(150*time.Millisecond), "cycle %d: a paused server answers nothing", i)
		srv.Unpause(t)
		require.NoError(t, ping(2*time.Second), "cycle %d: an unpaused server answers", i)
	}
	// The sequence that failed in CI: pause straight after an unpause, then stop.
	for i := range 5 {
		srv.Pause(t)
		srv.Unpause(t)
		srv.Pause(t)
		srv.Stop(t)
		srv.Start(t)
		require.NoError(t, ping(2*time.Second), "round %d: a restarted server answers", i)
	}
}

// Fuzz targets ran for a duration (-fuzztime=10s). Go 1.26's fuzz
// coordinator can then fail a clean run with a bare "context deadline
// exceeded" as the time runs out (golang/go#75804): FuzzDecode failed CI
// that way with nothing to reproduce. make fuzz, CI and the nightly run now
// count executions (-fuzztime=Nx), which never reaches that deadline.
func TestRegression_FuzzTargetsRunForACountOfExecutions(t *testing.T) {
	count := regexp.MustCompile(`^[0-9]+x$`)
	files := map[string]*regexp.Regexp{
		"../../Makefile":                      regexp.MustCompile(`(?m)^FUZZTIME\s*\?=\s*(\S+)`),
		"../../.github/workflows/ci.yml":      regexp.MustCompile(`make fuzz(?: FUZZTIME=(\S+))?`),
		"../../.github/workflows/nightly.yml": regexp.MustCompile(`make fuzz(?: FUZZTIME=(\S+))?`),
	}
	for path, re := range files {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		m := re.FindSubmatch(b)
		require.NotNil(t, m, "%s runs make fuzz", path)
		if v := string(m[1]); v != "" {
			assert.Regexp(t, count, v, "%s: FUZZTIME must count executions", path)
		}
	}
}

// The readiness wait after a Redis restart or resume bounded each attempt,
// connection included, by 500 ms. A Redis whose listen queue was full (a
// node under test reconnecting in a storm, on a loaded host) dropped the
// first SYN, which the kernel sends again only after a second: every
// attempt gave up before its connection could be made, and fault tests
// failed with "not ready ... context deadline exceeded" while redis-cli
// got PONG. Now the connection is bounded by the whole wait and only the
// PING by the attempt's bound. A connect that takes longer than one
// attempt stands in for the dropped SYN.
func TestRegression_RedisReadinessWaitsOutAConnectSlowerThanOneAttempt(t *testing.T) {
	mr := redistest.MiniRedis(t)
	var dials atomic.Int32
	slow := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		select {
		case <-time.After(1100 * time.Millisecond): // the retransmitted SYN
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	require.NoError(t, redistest.WaitReady(ctx, &redis.Options{Addr: mr.Addr(), Dialer: slow}))
	assert.GreaterOrEqual(t, time.Since(began), time.Second, "the slow connect was waited out")
	assert.Equal(t, int32(1), dials.Load(), "one attempt was enough")
}
