package taskqtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

// Timing of the suite (real time for a real backend).
const (
	// ShortVisibility is the Visibility of tests that let deliveries
	// expire.
	ShortVisibility = 500 * time.Millisecond
	// LongVisibility is the Visibility of tests that never let a
	// delivery expire.
	LongVisibility = time.Minute
	// ResultTTL is how long finished tasks stay readable in every test.
	ResultTTL = 2 * time.Second
	// Margin is how far past a bound the suite advances time.
	Margin = 250 * time.Millisecond
)

// Harness is one queue under test and the way to move its time.
type Harness struct {
	Queue taskq.Queue
	// Advance moves time as the backend sees it forward by at least d
	// (a fake clock for memory; a sleep for a real Redis).
	Advance func(d time.Duration)
}

// Factory returns an empty queue built with lim that shares nothing with
// the others it returns (a fresh instance or a fresh key prefix). Run
// closes it.
type Factory func(t *testing.T, lim taskq.Limits) Harness

// Clock is a settable clock for backends that take one, so the suite moves
// time without waiting.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Limits returns the limits of tests that need none in particular: no
// queue bound, 3 attempts, LongVisibility, ResultTTL.
func Limits() taskq.Limits {
	return taskq.Limits{MaxAttempts: 3, Visibility: LongVisibility, ResultTTL: ResultTTL}
}

// testCase is one contract test: the limits its queue is built with and
// the story.
type testCase struct {
	name   string
	limits func(l *taskq.Limits) // nil: Limits()
	test   func(t *testing.T, h *harness)
}

// shortVisibility is a limits tweak for tests that let deliveries expire.
func shortVisibility(l *taskq.Limits) { l.Visibility = ShortVisibility }

// Run runs the contract suite.
func Run(t *testing.T, f Factory) {
	t.Helper()
	var cases []testCase
	cases = append(cases, lifecycleCases()...)
	cases = append(cases, redeliveryCases()...)
	cases = append(cases, boundaryCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lim := Limits()
			if tc.limits != nil {
				tc.limits(&lim)
			}
			hs := f(t, lim)
			require.NotNil(t, hs.Queue, "factory returned no queue")
			require.NotNil(t, hs.Advance, "factory returned no Advance")
			t.Cleanup(func() { _ = hs.Queue.Close() })
			tc.test(t, &harness{Harness: hs, lim: lim, ctx: context.Background()})
		})
	}
}

const (
	acme   = "acme"
	globex = "globex"
	group  = "workers"
)

// harness wraps a Harness with helpers that fail the test on errors.
type harness struct {
	Harness
	lim taskq.Limits
	ctx context.Context
}

func (h *harness) submit(t *testing.T, tenant, grp, body string) string {
	t.Helper()
	id := taskq.NewID()
	require.NoError(t, h.Queue.Submit(h.ctx, tenant, grp, id, []byte(body)), "submit to %s/%s", tenant, grp)
	return id
}

func (h *harness) claim(t *testing.T, tenant, grp, worker string, n int) taskq.Claimed {
	t.Helper()
	c, err := h.Queue.Claim(h.ctx, tenant, grp, worker, n)
	require.NoError(t, err, "claim %s/%s for %s", tenant, grp, worker)
	require.Empty(t, c.Corrupt, "no entry of the suite is corrupt")
	return c
}

// claimOne claims with n = 1 and requires exactly one task.
func (h *harness) claimOne(t *testing.T, tenant, grp, worker string) taskq.Task {
	t.Helper()
	c := h.claim(t, tenant, grp, worker, 1)
	require.Len(t, c.Tasks, 1, "%s claims one task of %s/%s", worker, tenant, grp)
	return c.Tasks[0]
}

func (h *harness) complete(t *testing.T, tenant, grp, worker, id string, ok bool, result string) taskq.State {
	t.Helper()
	st, err := h.Queue.Complete(h.ctx, tenant, grp, worker, id, ok, []byte(result))
	require.NoError(t, err, "%s completes %s", worker, id)
	return st
}

func (h *harness) get(t *testing.T, tenant, id string) taskq.Info {
	t.Helper()
	info, err := h.Queue.Get(h.ctx, tenant, id)
	require.NoError(t, err, "get %s in %s", id, tenant)
	return info
}

func (h *harness) dead(t *testing.T, tenant, grp string, limit int) []taskq.DeadLetter {
	t.Helper()
	d, err := h.Queue.DeadLetters(h.ctx, tenant, grp, limit)
	require.NoError(t, err, "dead letters of %s/%s", tenant, grp)
	return d
}

// expire moves time past the visibility of every delivery made so far.
func (h *harness) expire() { h.Advance(h.lim.Visibility + Margin) }

func ids(tasks []taskq.Task) []string {
	out := make([]string, len(tasks))
	for i, tk := range tasks {
		out[i] = tk.ID
	}
	return out
}

func deadIDs(dead []taskq.DeadLetter) []string {
	out := make([]string, len(dead))
	for i, d := range dead {
		out[i] = d.TaskID
	}
	return out
}
