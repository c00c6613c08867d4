package cron

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

type firing struct {
	job       Job
	iteration int
	at        time.Time
}

type rig struct {
	s     *Scheduler
	clock *fakeClock
	fired chan firing
	m     *metrics.Metrics
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newRig(t testing.TB, o Options) *rig {
	t.Helper()
	r := &rig{clock: newFakeClock(), fired: make(chan firing, 1000), m: metrics.New(nil), logs: &syncBuffer{}}
	o.Clock = r.clock
	o.Metrics = r.m
	o.Logger = slog.New(slog.NewJSONHandler(r.logs, nil))
	if o.Fire == nil {
		o.Fire = func(j Job, n int) Result {
			r.fired <- firing{j, n, r.clock.Now()}
			return metrics.CronOK
		}
	}
	r.s = New(o)
	t.Cleanup(r.s.Close)
	return r
}

func (r *rig) next(t testing.TB) firing {
	t.Helper()
	select {
	case f := <-r.fired:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no firing within 5s")
		return firing{}
	}
}

// barrier schedules a one-shot job due now and waits for it: every firing
// due before it has run by then (one goroutine fires in order).
func (r *rig) barrier(t testing.TB) {
	t.Helper()
	j, err := r.s.Schedule(Spec{Owner: "barrier", Tenant: "t", Room: "b", Channel: "b", Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	for {
		f := r.next(t)
		if f.job.ID == j.ID {
			return
		}
		t.Fatalf("unexpected firing %s #%d before the barrier", f.job.ID, f.iteration)
	}
}

func spec(owner string) Spec {
	return Spec{Owner: owner, Tenant: "t1", Room: "r", Channel: "c", Payload: json.RawMessage(`{"x":1}`),
		Delay: time.Second, Repeat: 1}
}

func TestAJobFiresOnceAfterItsDelay(t *testing.T) {
	r := newRig(t, Options{})
	j, err := r.s.Schedule(spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^cron_[0-9a-f]{12}$`).MatchString(j.ID) {
		t.Fatalf("job id %q", j.ID)
	}
	r.clock.Advance(999 * time.Millisecond)
	r.barrier(t)
	r.clock.Advance(time.Millisecond)
	f := r.next(t)
	if f.job.ID != j.ID || f.iteration != 1 || f.at != j.CreatedAt.Add(time.Second) {
		t.Fatalf("firing %+v", f)
	}
	r.barrier(t)
	// The barrier's own job ends just after its firing reached the test:
	// wait for it to be removed and counted too.
	eventually(t, func() bool {
		return r.s.Len() == 0 && testutil.ToFloat64(r.m.CronCancellations.WithLabelValues("completed")) >= 3
	})
	if got := testutil.ToFloat64(r.m.CronCancellations.WithLabelValues("completed")); got != 3 { // the job and two barriers
		t.Fatalf("completed = %v", got)
	}
	if got := testutil.ToFloat64(r.m.CronFirings.WithLabelValues("ok")); got < 1 {
		t.Fatalf("firings ok = %v", got)
	}
}

func TestARepeatingJobFiresAtAFixedRateFromTheFirstFiring(t *testing.T) {
	r := newRig(t, Options{})
	sp := spec("a")
	sp.Interval, sp.Repeat = 2*time.Second, 4
	j, _ := r.s.Schedule(sp)
	first := j.CreatedAt.Add(time.Second)
	r.clock.Advance(time.Second)
	if f := r.next(t); f.iteration != 1 || f.at != first {
		t.Fatalf("first firing %+v", f)
	}
	// Late by 1.5s: the next firing still counts from the first.
	r.clock.Advance(3500 * time.Millisecond)
	if f := r.next(t); f.iteration != 2 {
		t.Fatalf("second firing %+v", f)
	}
	// first + 4s: the third is due (counting from the late second
	// firing it would be first + 5.5s).
	r.clock.Advance(500 * time.Millisecond)
	if f := r.next(t); f.iteration != 3 || f.at != first.Add(4*time.Second) {
		t.Fatalf("third firing %+v", f)
	}
	r.clock.Advance(2 * time.Second)
	if f := r.next(t); f.iteration != 4 {
		t.Fatalf("fourth firing %+v", f)
	}
	r.clock.Advance(time.Hour)
	r.barrier(t)
	if _, ok := r.s.Get(j.ID); ok {
		t.Fatal("the job is still scheduled after its last firing")
	}
}

func TestACancelledJobDoesNotFire(t *testing.T) {
	r := newRig(t, Options{})
	j, _ := r.s.Schedule(spec("a"))
	if err := r.s.Cancel(j.ID, metrics.CronOwnerCancel); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Cancel(j.ID, metrics.CronOwnerCancel); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second cancel: %v", err)
	}
	r.clock.Advance(time.Hour)
	r.barrier(t)
	if got := testutil.ToFloat64(r.m.CronCancellations.WithLabelValues("owner_cancel")); got != 1 {
		t.Fatalf("owner_cancel = %v", got)
	}
	if !strings.Contains(r.logs.String(), `"job_id":"`+j.ID+`","owner":"a","tenant":"t1","reason":"owner_cancel"`) {
		t.Fatalf("no cancellation line in %s", r.logs)
	}
}

func TestAJobCancelledWhileItFiresIsNotFiredAgain(t *testing.T) {
	entered, release := make(chan int, 10), make(chan struct{})
	r := &rig{}
	r = newRig(t, Options{Fire: func(j Job, n int) Result {
		if j.Owner == "barrier" {
			r.fired <- firing{j, n, time.Time{}}
			return metrics.CronOK
		}
		entered <- n
		<-release
		return metrics.CronOK
	}})
	sp := spec("a")
	sp.Interval, sp.Repeat = time.Second, 10
	j, _ := r.s.Schedule(sp)
	r.clock.Advance(time.Second)
	<-entered
	if err := r.s.Cancel(j.ID, metrics.CronOwnerCancel); err != nil {
		t.Fatal(err)
	}
	close(release)
	r.clock.Advance(time.Minute)
	r.barrier(t)
	select {
	case n := <-entered:
		t.Fatalf("firing %d after the cancel", n)
	default:
	}
}

func TestTheLimitsBoundJobsPerClientAndPerNode(t *testing.T) {
	r := newRig(t, Options{MaxPerClient: 2, MaxJobs: 3})
	for i := 0; i < 2; i++ {
		if _, err := r.s.Schedule(spec("a")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.s.Schedule(spec("a")); !errors.Is(err, ErrClientLimit) {
		t.Fatalf("third job of a: %v", err)
	}
	if _, err := r.s.Schedule(spec("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Schedule(spec("c")); !errors.Is(err, ErrNodeLimit) {
		t.Fatalf("fourth job on the node: %v", err)
	}
	if got := testutil.ToFloat64(r.m.CronJobs); got != 3 {
		t.Fatalf("cron_jobs = %v", got)
	}
}

func TestAnOwnersJobsEndWithItsConnection(t *testing.T) {
	r := newRig(t, Options{MaxPerClient: 2})
	a1, _ := r.s.Schedule(spec("a"))
	_, _ = r.s.Schedule(spec("a"))
	b, _ := r.s.Schedule(spec("b"))
	if n := r.s.CancelOwner("a"); n != 2 {
		t.Fatalf("CancelOwner = %d", n)
	}
	if _, err := r.s.Schedule(spec("a")); err != nil {
		t.Fatalf("a new job after the cleanup: %v", err)
	}
	if got := testutil.ToFloat64(r.m.CronCancellations.WithLabelValues("disconnect")); got != 2 {
		t.Fatalf("disconnect = %v", got)
	}
	if !strings.Contains(r.logs.String(), `"job_id":"`+a1.ID+`","owner":"a","tenant":"t1","reason":"disconnect"`) {
		t.Fatalf("no disconnect line in %s", r.logs)
	}
	r.clock.Advance(time.Second)
	seen := map[string]bool{}
	seen[r.next(t).job.Owner] = true
	seen[r.next(t).job.Owner] = true
	if !seen["b"] || len(seen) != 2 {
		t.Fatalf("firings of %v, want b's %s and a's new job", seen, b.ID)
	}
}

func TestCloseCancelsEveryJobAndRefusesNewOnes(t *testing.T) {
	r := newRig(t, Options{})
	_, _ = r.s.Schedule(spec("a"))
	_, _ = r.s.Schedule(spec("b"))
	r.s.Close()
	r.s.Close()
	if _, err := r.s.Schedule(spec("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Schedule after Close: %v", err)
	}
	if got := testutil.ToFloat64(r.m.CronCancellations.WithLabelValues("shutdown")); got != 2 {
		t.Fatalf("shutdown = %v", got)
	}
	if got := testutil.ToFloat64(r.m.CronJobs); got != 0 {
		t.Fatalf("cron_jobs = %v", got)
	}
	if n := strings.Count(r.logs.String(), `"reason":"shutdown"`); n != 2 {
		t.Fatalf("%d shutdown lines", n)
	}
}

func TestARefusedFiringIsCountedAndTheJobGoesOn(t *testing.T) {
	calls := make(chan int, 10)
	r := newRig(t, Options{Fire: func(_ Job, n int) Result {
		calls <- n
		return metrics.CronRefused
	}})
	sp := spec("a")
	sp.Interval, sp.Repeat = time.Second, 2
	_, _ = r.s.Schedule(sp)
	r.clock.Advance(time.Second)
	<-calls
	r.clock.Advance(time.Second)
	if n := <-calls; n != 2 {
		t.Fatalf("second iteration %d", n)
	}
	eventually(t, func() bool { return testutil.ToFloat64(r.m.CronFirings.WithLabelValues("refused")) == 2 })
}

// TestWakeUpsThatKeepTheEarliestDueTimeStartNoTimer: every Schedule wakes
// the loop; one that leaves the earliest due time as it was must keep the
// timer already waiting for it, not start one more per wake-up.
func TestWakeUpsThatKeepTheEarliestDueTimeStartNoTimer(t *testing.T) {
	r := newRig(t, Options{})
	first, _ := r.s.Schedule(spec("a"))
	eventually(t, func() bool { return r.clock.pending() > 0 })
	for i := 0; i < 20; i++ {
		sp := spec("b")
		sp.Delay = 2 * time.Second
		_, _ = r.s.Schedule(sp)
	}
	r.barrier(t)
	eventually(t, func() bool { return r.s.Len() == 21 })
	if n := r.clock.pending(); n != 1 {
		t.Fatalf("%d timers pending, want the one for the earliest job", n)
	}
	r.clock.Advance(time.Second)
	if f := r.next(t); f.job.ID != first.ID {
		t.Fatalf("firing %+v, want %s", f, first.ID)
	}
}

func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
