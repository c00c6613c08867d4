package regression

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// failRecorder is a testing.TB whose Fatalf records the failure and stops
// the helper under test (a panic the caller recovers), so a test can assert
// that a helper fails.
type failRecorder struct {
	testing.TB
	failed string
}

type helperFailed struct{}

func (f *failRecorder) Helper() {}

func (f *failRecorder) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	panic(helperFailed{})
}

// failureOf runs check against a failRecorder and returns what it failed
// with ("" when it passed).
func failureOf(t *testing.T, check func(tb testing.TB)) string {
	t.Helper()
	rec := &failRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(helperFailed); !ok {
					panic(r)
				}
			}
		}()
		check(rec)
	}()
	return rec.failed
}

// testutil.ExpectNone asserted "this client received nothing" by waiting for
// a frame and passing on any error, and a closed connection's Recv returns
// ErrClosed at once: a dead socket counted as "received nothing". Every
// negative delivery assertion (a refused strict message reached nobody,
// tenants do not see each other, no self-echo) could pass with the client
// already gone. ExpectNone now passes only when the wait ran out on a
// connection that is still open.
func TestRegression_ExpectNoneFailsWhenTheConnectionHasDied(t *testing.T) {
	s := testutil.StartServer(t)
	const wait = 50 * time.Millisecond

	live := testutil.Dial(t, s)
	require.Empty(t, failureOf(t, func(tb testing.TB) { testutil.ExpectNone(tb, live, wait) }),
		"a live, quiet connection passes")

	pub := testutil.Dial(t, s)
	testutil.Join(t, live, "r", "c")
	testutil.Publish(t, pub, "r", "c", map[string]int{"n": 1})
	require.Contains(t, failureOf(t, func(tb testing.TB) { testutil.ExpectNone(tb, live, testutil.Timeout) }),
		"expected no frame", "a delivered frame fails it")

	dead := testutil.Dial(t, s)
	require.NoError(t, dead.Close())
	got := failureOf(t, func(tb testing.TB) { testutil.ExpectNone(tb, dead, wait) })
	require.True(t, strings.Contains(got, "ended"), "a closed connection fails it, got %q", got)
}

// testutil.MetricValue read a metric family that did not exist, or a label
// set that matched no series, as 0, so a misspelt counter name made every
// "nothing failed" assertion on it pass. Every known series now starts at 0,
// and a name or label set matching nothing fails the test.
func TestRegression_AMisspeltMetricFailsInsteadOfReadingZero(t *testing.T) {
	s := testutil.StartServer(t)
	require.Empty(t, failureOf(t, func(tb testing.TB) { testutil.MetricValue(tb, s.Registry, "connections_total") }),
		"a registered metric reads")
	require.Contains(t, failureOf(t, func(tb testing.TB) { testutil.MetricValue(tb, s.Registry, "conections_total") }),
		"no metric arqonbus_conections_total")
	require.Contains(t, failureOf(t, func(tb testing.TB) {
		testutil.MetricValue(tb, s.Registry, "errors_total", "NO_SUCH_CODE")
	}), "has no series")
	require.Contains(t, failureOf(t, func(tb testing.TB) {
		testutil.MetricValue(tb, prometheus.NewRegistry(), "connections_total")
	}), "no metric")
}
