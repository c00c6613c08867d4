package taskq_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	visibility = 30 * time.Second
	poll       = 100 * time.Millisecond
	waitFor    = 5 * time.Second // bound of every wait for the loop
)

// rig is a started dispatcher over a fakeQueue on a fake clock, with its
// logs (JSON lines) and metrics.
type rig struct {
	clock *fakeClock
	q     *fakeQueue
	d     *taskq.Dispatcher
	m     *metrics.Metrics
	logs  *testutil.LogBuffer
}

func newRig(t *testing.T, opts ...func(*taskq.Options)) *rig {
	t.Helper()
	clock := newFakeClock()
	r := &rig{clock: clock, q: newFakeQueue(clock, visibility), m: metrics.New(nil), logs: &testutil.LogBuffer{}}
	o := taskq.Options{
		Queue: r.q, Visibility: visibility, PollInterval: poll, CallTimeout: time.Second, Clock: clock,
		Logger:  slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: r.m,
	}
	for _, f := range opts {
		f(&o)
	}
	r.d = taskq.NewDispatcher(o)
	r.d.Start()
	t.Cleanup(func() {
		r.d.Stop()
		if t.Failed() {
			t.Logf("dispatcher logs:\n%s", r.logs)
		}
	})
	return r
}

func prefetch(n int) func(*taskq.Options) { return func(o *taskq.Options) { o.Prefetch = n } }

// settle waits for a whole pass of the loop that began after the call.
func (r *rig) settle(t *testing.T) { t.Helper(); taskq.Settle(t, r.d) }

// idle waits until the loop waits with nothing pending: its next pass is
// the one the test causes.
func (r *rig) idle(t *testing.T) { t.Helper(); taskq.Idle(t, r.d) }

// tick fires the poll timer once the loop waits on it.
func (r *rig) tick(t *testing.T) {
	t.Helper()
	r.idle(t)
	if n := r.clock.pending(); n != 1 {
		t.Fatalf("the idle loop holds %d poll timers, want 1", n)
	}
	r.clock.Advance(poll)
}

func (r *rig) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return testutil.MetricValue(t, r.m.Registry, name, labels...)
}

func (r *rig) join(t *testing.T, w *fakeWorker, group string) {
	t.Helper()
	if err := r.d.Join(w, group); err != nil {
		t.Fatalf("join %s to %s: %v", w.id, group, err)
	}
}

func (r *rig) submit(t *testing.T, group string) string {
	t.Helper()
	id, err := r.d.Submit(context.Background(), "t1", group, []byte(`{"n":1}`))
	if err != nil {
		t.Fatalf("submit to %s: %v", group, err)
	}
	return id
}

// records returns the log records with message msg, as decoded JSON.
func (r *rig) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitTasks waits until w has accepted n tasks and returns them.
func waitTasks(t *testing.T, w *fakeWorker, n int) []taskq.Task {
	t.Helper()
	testutil.Eventually(t, func() bool { return len(w.tasks()) >= n }, waitFor, "%s to hold %d tasks", w.id, n)
	return w.tasks()
}

func ids(ts []taskq.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestPrefetchBoundsTheTasksAWorkerHolds(t *testing.T) {
	r := newRig(t, prefetch(2))
	w := newWorker("a")
	r.join(t, w, "g")
	var submitted []string
	for range 5 {
		submitted = append(submitted, r.submit(t, "g"))
	}
	got := waitTasks(t, w, 2)
	r.settle(t)
	r.tick(t)
	r.settle(t) // two more passes: the loop was alive and still held back
	if got := ids(w.tasks()); len(got) != 2 || got[0] != submitted[0] || got[1] != submitted[1] {
		t.Fatalf("worker got %v, want the first two of %v", got, submitted)
	}
	if got[0].Attempt != 1 || string(got[0].Body) != `{"n":1}` || got[0].Group != "g" || got[0].Tenant != "t1" {
		t.Fatalf("first delivery = %+v", got[0])
	}
	if v := r.metric(t, "tasks_delivered_total"); v != 2 {
		t.Fatalf("tasks_delivered_total = %v, want 2", v)
	}
	if v := r.metric(t, "tasks_submitted_total"); v != 5 {
		t.Fatalf("tasks_submitted_total = %v, want 5", v)
	}
}

func TestASecondWorkerGetsTheNextTask(t *testing.T) {
	r := newRig(t)
	a, b := newWorker("a"), newWorker("b")
	r.join(t, a, "g")
	r.join(t, b, "g")
	first, second := r.submit(t, "g"), r.submit(t, "g")
	ta, tb := waitTasks(t, a, 1), waitTasks(t, b, 1)
	got := map[string]bool{ta[0].ID: true, tb[0].ID: true}
	if !got[first] || !got[second] {
		t.Fatalf("a got %v and b got %v, want one each of %s and %s", ids(ta), ids(tb), first, second)
	}
}

func TestIdleWorkersShareTasksRoundRobin(t *testing.T) {
	r := newRig(t)
	ws := []*fakeWorker{newWorker("a"), newWorker("b"), newWorker("c")}
	for _, w := range ws {
		r.join(t, w, "g")
	}
	r.settle(t)
	for round := range 3 {
		id := r.submit(t, "g")
		r.settle(t)
		total := 0
		for _, w := range ws {
			total += len(w.tasks())
		}
		if total != round+1 {
			t.Fatalf("round %d: %d deliveries in all after task %s, want %d", round, total, id, round+1)
		}
		for _, w := range ws { // free every slot
			for _, task := range w.tasks() {
				_, _ = r.d.Complete(context.Background(), w.id, task.ID, true, nil)
			}
		}
	}
	for _, w := range ws {
		if n := len(w.tasks()); n != 1 {
			t.Fatalf("%s got %d tasks over three rounds, want 1 each (round robin)", w.id, n)
		}
	}
}

func TestALocalSubmitIsDeliveredWithoutWaitingForThePoll(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	id := r.submit(t, "g") // the fake clock never moves: only the wake-up can deliver it
	if got := waitTasks(t, w, 1); got[0].ID != id {
		t.Fatalf("got %s, want %s", got[0].ID, id)
	}
}

func TestATaskFromAnotherNodeIsDeliveredOnThePoll(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	r.idle(t)
	claims := len(r.q.claimCalls())
	if claims == 0 {
		t.Fatal("the loop never asked for the joined worker")
	}
	if err := r.q.Submit(context.Background(), "t1", "g", "task_remote", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if n := len(r.q.claimCalls()); n != claims || len(w.tasks()) != 0 {
		t.Fatalf("before the poll: %d claims (was %d), %d tasks", n, claims, len(w.tasks()))
	}
	r.tick(t)
	if got := waitTasks(t, w, 1); got[0].ID != "task_remote" {
		t.Fatalf("got %s, want task_remote", got[0].ID)
	}
}

func TestAnExpiredDeliveryFreesTheSlotAndItsLateAnswerIsNotHeld(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	first := r.submit(t, "g")
	r.submit(t, "g")
	waitTasks(t, w, 1)
	r.settle(t)
	if n := len(w.tasks()); n != 1 {
		t.Fatalf("worker holds %d tasks before the deadline, want 1 (prefetch)", n)
	}

	// Hold the loop's next claim so the expired task cannot come back to
	// the same worker before its late answer is checked.
	gate, entered := make(chan struct{}), make(chan struct{}, 10)
	r.q.set(func(q *fakeQueue) { q.gate, q.entered = gate, entered })
	r.idle(t)
	r.clock.Advance(visibility) // fires the poll timer too
	<-entered
	_, err := r.d.Complete(context.Background(), "a", first, true, []byte(`{}`))
	if !errors.Is(err, taskq.ErrNotHeld) {
		t.Fatalf("late complete: err = %v, want ErrNotHeld", err)
	}
	if n := r.q.completeCalls(); n != 0 {
		t.Fatalf("the late answer reached the queue %d times", n)
	}
	r.q.set(func(q *fakeQueue) { q.gate = nil })
	close(gate)
	got := waitTasks(t, w, 2) // the slot is free again: the expired task comes back first
	if got[1].ID != first || got[1].Attempt != 2 {
		t.Fatalf("second delivery = %s attempt %d, want %s attempt 2", got[1].ID, got[1].Attempt, first)
	}
	if v := r.metric(t, "tasks_redelivered_total"); v != 1 {
		t.Fatalf("tasks_redelivered_total = %v, want 1", v)
	}
}

func TestCompleteFreesTheSlotAndTheNextTaskArrives(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	first, second := r.submit(t, "g"), r.submit(t, "g")
	waitTasks(t, w, 1)
	st, err := r.d.Complete(context.Background(), "a", first, true, []byte(`{"ok":true}`))
	if err != nil || st != taskq.StateDone {
		t.Fatalf("complete = %q, %v; want done", st, err)
	}
	got := waitTasks(t, w, 2) // without a poll tick: Complete wakes the loop
	if got[1].ID != second {
		t.Fatalf("next task = %s, want %s", got[1].ID, second)
	}
	st, err = r.d.Complete(context.Background(), "a", second, false, []byte(`{"error":"x"}`))
	if err != nil || st != taskq.StateFailed {
		t.Fatalf("complete = %q, %v; want failed", st, err)
	}
	if _, err := r.d.Complete(context.Background(), "a", first, true, nil); !errors.Is(err, taskq.ErrNotHeld) {
		t.Fatalf("second answer: err = %v, want ErrNotHeld", err)
	}
	if done, failed := r.metric(t, "tasks_completed_total", "done"), r.metric(t, "tasks_completed_total", "failed"); done != 1 || failed != 1 {
		t.Fatalf("tasks_completed_total done=%v failed=%v, want 1 and 1", done, failed)
	}
	info, err := r.d.Get(context.Background(), "t1", first)
	if err != nil || info.State != taskq.StateDone || info.Attempts != 1 {
		t.Fatalf("get = %+v, %v", info, err)
	}
}

func TestCompleteOfATaskNeverDeliveredDoesNotReachTheQueue(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	_, err := r.d.Complete(context.Background(), "a", taskq.NewID(), true, nil)
	if !errors.Is(err, taskq.ErrNotHeld) {
		t.Fatalf("err = %v, want ErrNotHeld", err)
	}
	if n := r.q.completeCalls(); n != 0 {
		t.Fatalf("queue.Complete called %d times", n)
	}
}

func TestAQueueFailureOnCompleteKeepsTheTaskHeld(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	id := r.submit(t, "g")
	waitTasks(t, w, 1)
	r.q.set(func(q *fakeQueue) { q.completeErr = fmt.Errorf("complete: %w", taskq.ErrUnavailable) })
	if _, err := r.d.Complete(context.Background(), "a", id, true, nil); !errors.Is(err, taskq.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if v := r.metric(t, "task_queue_failures_total", "complete"); v != 1 {
		t.Fatalf("task_queue_failures_total{complete} = %v, want 1", v)
	}
	if recs := r.records(t, "task complete failed"); len(recs) != 1 || recs[0]["task_id"] != id || recs[0]["worker"] != "a" {
		t.Fatalf("log records = %v", recs)
	}
	r.q.set(func(q *fakeQueue) { q.completeErr = nil })
	if st, err := r.d.Complete(context.Background(), "a", id, true, nil); err != nil || st != taskq.StateDone {
		t.Fatalf("retried complete = %q, %v; want done", st, err)
	}
}

func TestLeaveReleasesHeldTasksToAnotherWorker(t *testing.T) {
	r := newRig(t)
	a, b := newWorker("a"), newWorker("b")
	r.join(t, a, "g")
	id := r.submit(t, "g")
	waitTasks(t, a, 1)
	r.join(t, b, "g")
	r.settle(t)
	if n := len(b.tasks()); n != 0 {
		t.Fatalf("b got %d tasks while a held the only one", n)
	}
	left, err := r.d.Leave(context.Background(), "a", "g")
	if !left || err != nil {
		t.Fatalf("leave = %v, %v", left, err)
	}
	got := waitTasks(t, b, 1)
	if got[0].ID != id || got[0].Attempt != 2 {
		t.Fatalf("b got %s attempt %d, want %s attempt 2", got[0].ID, got[0].Attempt, id)
	}
	if rel := r.q.releaseCalls(); len(rel) != 1 || rel[0].worker != "a" || len(rel[0].ids) != 1 || rel[0].ids[0] != id {
		t.Fatalf("releases = %+v", rel)
	}
	if left, err := r.d.Leave(context.Background(), "a", "g"); left || err != nil {
		t.Fatalf("second leave = %v, %v; want false, nil", left, err)
	}
	if v := r.metric(t, "task_workers"); v != 1 || r.d.Workers() != 1 {
		t.Fatalf("task_workers = %v, Workers() = %d; want 1", v, r.d.Workers())
	}
}

func TestLeaveAllReleasesEveryGroup(t *testing.T) {
	r := newRig(t)
	a, b1, b2 := newWorker("a"), newWorker("b1"), newWorker("b2")
	r.join(t, a, "g1")
	r.join(t, a, "g2")
	id1, id2 := r.submit(t, "g1"), r.submit(t, "g2")
	waitTasks(t, a, 2)
	r.join(t, b1, "g1")
	r.join(t, b2, "g2")
	r.d.LeaveAll("a")
	if g := r.d.Groups("a"); len(g) != 0 {
		t.Fatalf("groups after LeaveAll = %v", g)
	}
	if got := waitTasks(t, b1, 1); got[0].ID != id1 || got[0].Attempt != 2 {
		t.Fatalf("b1 got %+v, want %s attempt 2", got[0], id1)
	}
	if got := waitTasks(t, b2, 1); got[0].ID != id2 || got[0].Attempt != 2 {
		t.Fatalf("b2 got %+v, want %s attempt 2", got[0], id2)
	}
	if v := r.metric(t, "task_workers"); v != 2 {
		t.Fatalf("task_workers = %v, want 2", v)
	}
}

func TestAFailedReleaseIsReturnedLoggedAndCounted(t *testing.T) {
	r := newRig(t)
	a := newWorker("a")
	r.join(t, a, "g")
	r.join(t, a, "h")
	r.q.set(func(q *fakeQueue) { q.releaseErr = fmt.Errorf("release: %w", taskq.ErrUnavailable) })
	left, err := r.d.Leave(context.Background(), "a", "g")
	if !left || !errors.Is(err, taskq.ErrUnavailable) {
		t.Fatalf("leave = %v, %v; want true, ErrUnavailable", left, err)
	}
	r.d.LeaveAll("a")
	if v := r.metric(t, "task_queue_failures_total", "release"); v != 2 {
		t.Fatalf("task_queue_failures_total{release} = %v, want 2", v)
	}
	recs := r.records(t, "task release failed")
	if len(recs) != 2 || recs[0]["group"] != "g" || recs[1]["group"] != "h" || recs[1]["worker"] != "a" {
		t.Fatalf("log records = %v", recs)
	}
	if r.d.Workers() != 0 {
		t.Fatalf("Workers() = %d after leaving, want 0", r.d.Workers())
	}
}

func TestARefusedDeliveryIsReleasedAtOnce(t *testing.T) {
	r := newRig(t)
	a, b := newWorker("a"), newWorker("b")
	a.setRefuse(true)
	r.join(t, a, "g")
	id := r.submit(t, "g")
	testutil.Eventually(t, func() bool { return len(r.q.releaseCalls()) >= 1 }, waitFor, "the refused task to be released")
	r.settle(t) // each pass offers it once more (Join and Submit may wake two): never in a loop
	rels, offers := r.q.releaseCalls(), a.offers()
	if len(rels) != offers {
		t.Fatalf("%d offers but %d releases", offers, len(rels))
	}
	for _, rel := range rels {
		if rel.worker != "a" || len(rel.ids) != 1 || rel.ids[0] != id {
			t.Fatalf("release = %+v", rel)
		}
	}
	if recs := r.records(t, "task delivery refused"); len(recs) != offers || recs[0]["task_id"] != id || recs[0]["worker"] != "a" {
		t.Fatalf("log records = %v", recs)
	}
	if uint64(offers) > taskq.Passes(r.d) {
		t.Fatalf("%d offers in %d passes: a refusing worker must not be offered in a loop", offers, taskq.Passes(r.d))
	}
	r.join(t, b, "g")
	got := waitTasks(t, b, 1)
	if offers = a.offers(); got[0].ID != id || got[0].Attempt != offers+1 {
		t.Fatalf("b got %s attempt %d after %d refused offers, want %s attempt %d", got[0].ID, got[0].Attempt, offers, id, offers+1)
	}
	if v := r.metric(t, "tasks_delivered_total"); v != 1 {
		t.Fatalf("tasks_delivered_total = %v, want 1 (the refused offer is not a delivery)", v)
	}
}

func TestAClaimFailureIsLoggedCountedAndRetriedOnTheNextPass(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.q.set(func(q *fakeQueue) { q.claimErr = fmt.Errorf("claim: %w", taskq.ErrUnavailable) })
	r.join(t, w, "g")
	r.settle(t)
	r.settle(t)
	calls := len(r.q.claimCalls())
	passes := taskq.Passes(r.d)
	if calls == 0 || uint64(calls) > passes {
		t.Fatalf("%d claims in %d passes: want at least one, and at most one a pass", calls, passes)
	}
	if v := r.metric(t, "task_queue_failures_total", "claim"); v != float64(calls) {
		t.Fatalf("task_queue_failures_total{claim} = %v, want %d", v, calls)
	}
	recs := r.records(t, "task claim failed")
	if len(recs) != calls || recs[0]["tenant"] != "t1" || recs[0]["group"] != "g" ||
		!strings.Contains(fmt.Sprint(recs[0]["err"]), "unavailable") || recs[0]["level"] != "WARN" {
		t.Fatalf("log records = %v", recs)
	}

	r.q.set(func(q *fakeQueue) { q.claimErr = nil })
	id := r.submit(t, "g")
	if got := waitTasks(t, w, 1); got[0].ID != id {
		t.Fatalf("got %s, want %s", got[0].ID, id)
	}
}

func TestAnEmptyGroupCostsOneClaimAPass(t *testing.T) {
	r := newRig(t)
	for _, id := range []string{"a", "b", "c"} {
		r.join(t, newWorker(id), "g")
	}
	r.idle(t)
	before := len(r.q.claimCalls())
	r.settle(t)
	if n := len(r.q.claimCalls()) - before; n != 1 {
		t.Fatalf("a pass over an empty group made %d claims, want 1", n)
	}
}

func TestDeadTasksAreLoggedAndCounted(t *testing.T) {
	r := newRig(t)
	r.join(t, newWorker("a"), "g")
	r.settle(t)
	r.q.set(func(q *fakeQueue) {
		q.nextDead = []taskq.DeadLetter{{TaskID: "task_dead", Reason: taskq.DeadAttempts, Attempts: 3}}
		q.nextCorrupt = []taskq.Corrupt{
			{Stream: "s1", EntryID: "1-0", Reason: "no body"},
			{Stream: "s1", EntryID: "2-0", Reason: "bad json", Err: errors.New("XACK failed")},
		}
	})
	r.settle(t)

	if recs := r.records(t, "task dead"); len(recs) != 1 || recs[0]["task_id"] != "task_dead" ||
		recs[0]["attempts"] != 3.0 || recs[0]["reason"] != "attempts" || recs[0]["group"] != "g" ||
		recs[0]["tenant"] != "t1" || recs[0]["level"] != "WARN" {
		t.Fatalf("task dead records = %v", recs)
	}
	recs := r.records(t, "task entry did not decode")
	if len(recs) != 2 {
		t.Fatalf("decode records = %v", recs)
	}
	for i, want := range []struct{ entry, reason string }{{"1-0", "no body"}, {"2-0", "bad json"}} {
		if recs[i]["stream"] != "s1" || recs[i]["entry_id"] != want.entry || recs[i]["reason"] != want.reason || recs[i]["level"] != "ERROR" {
			t.Fatalf("decode record %d = %v", i, recs[i])
		}
	}
	if _, ok := recs[1]["err"]; !ok {
		t.Fatalf("the failed dead-letter move was logged without its error: %v", recs[1])
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tasks_dead_total", nil, 2},
		{"task_decode_failures_total", nil, 1},
		{"task_queue_failures_total", []string{"dead_letter"}, 1},
	} {
		if v := r.metric(t, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %d", c.name, c.labels, v, int(c.want))
		}
	}
}

func TestATaskIsDeadAfterMaxAttempts(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	id := r.submit(t, "g")
	for attempt := 1; attempt <= 3; attempt++ { // fakeQueue's MaxAttempts
		if got := waitTasks(t, w, attempt); got[attempt-1].Attempt != attempt {
			t.Fatalf("delivery %d has attempt %d", attempt, got[attempt-1].Attempt)
		}
		r.clock.Advance(visibility)
		r.settle(t)
	}
	testutil.Eventually(t, func() bool { return r.metric(t, "tasks_dead_total") == 1 }, waitFor, "the task to die")
	dl, err := r.d.DeadLetters(context.Background(), "t1", "g", 0)
	if err != nil || len(dl) != 1 || dl[0].TaskID != id || dl[0].Attempts != 3 {
		t.Fatalf("dead letters = %+v, %v", dl, err)
	}
}

func TestJoinIsIdempotentAndBoundedByTheGroupLimit(t *testing.T) {
	r := newRig(t, func(o *taskq.Options) { o.MaxGroupsPerWorker = 2 })
	w := newWorker("a")
	r.join(t, w, "g2")
	r.join(t, w, "g1")
	r.join(t, w, "g1")
	if err := r.d.Join(w, "g3"); !errors.Is(err, taskq.ErrGroupLimit) {
		t.Fatalf("third group: err = %v, want ErrGroupLimit", err)
	}
	r.join(t, w, "g2") // a group it has is not another one
	if g := r.d.Groups("a"); len(g) != 2 || g[0] != "g1" || g[1] != "g2" {
		t.Fatalf("groups = %v, want [g1 g2]", g)
	}
	if n, v := r.d.Workers(), r.metric(t, "task_workers"); n != 2 || v != 2 {
		t.Fatalf("Workers() = %d, task_workers = %v; want 2", n, v)
	}
	id := r.submit(t, "g1") // one registration: one delivery, not two
	r.settle(t)
	if got := w.tasks(); len(got) != 1 || got[0].ID != id {
		t.Fatalf("worker got %v, want [%s]", ids(got), id)
	}
}

func TestAClaimForAMembershipThatLeftIsReleased(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	gate, entered := make(chan struct{}), make(chan struct{}, 10)
	r.q.set(func(q *fakeQueue) { q.gate, q.entered = gate, entered })
	r.join(t, w, "g")
	<-entered // the claim of an empty queue, waiting
	if err := r.q.Submit(context.Background(), "t1", "g", "task_x", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if left, err := r.d.Leave(context.Background(), "a", "g"); !left || err != nil {
		t.Fatalf("leave = %v, %v", left, err)
	}
	r.q.set(func(q *fakeQueue) { q.gate = nil })
	close(gate)
	testutil.Eventually(t, func() bool { return len(r.q.releaseCalls()) == 2 }, waitFor, "the claimed task to be released")
	rel := r.q.releaseCalls()[1]
	if rel.worker != "a" || len(rel.ids) != 1 || rel.ids[0] != "task_x" {
		t.Fatalf("release = %+v", rel)
	}
	if n := w.offers(); n != 0 {
		t.Fatalf("the worker that left was offered %d tasks", n)
	}
	info, err := r.d.Get(context.Background(), "t1", "task_x")
	if err != nil || info.State != taskq.StateQueued {
		t.Fatalf("task after release = %+v, %v; want queued", info, err)
	}
}

func TestSubmitReturnsTheQueueErrorAndCountsOnlyFailures(t *testing.T) {
	r := newRig(t)
	r.q.set(func(q *fakeQueue) { q.submitErr = fmt.Errorf("g: %w", taskq.ErrQueueFull) })
	if _, err := r.d.Submit(context.Background(), "t1", "g", []byte(`{}`)); !errors.Is(err, taskq.ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
	r.q.set(func(q *fakeQueue) { q.submitErr = fmt.Errorf("submit: %w", taskq.ErrUnavailable) })
	if _, err := r.d.Submit(context.Background(), "t1", "g", []byte(`{}`)); !errors.Is(err, taskq.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if v := r.metric(t, "task_queue_failures_total", "submit"); v != 1 {
		t.Fatalf("task_queue_failures_total{submit} = %v, want 1 (a full queue is not a failure)", v)
	}
	if recs := r.records(t, "task submit failed"); len(recs) != 1 || recs[0]["group"] != "g" {
		t.Fatalf("log records = %v", recs)
	}
	if v := r.metric(t, "tasks_submitted_total"); v != 0 {
		t.Fatalf("tasks_submitted_total = %v, want 0", v)
	}
}

func TestGetCountsOnlyUnexpectedErrors(t *testing.T) {
	r := newRig(t)
	if _, err := r.d.Get(context.Background(), "t1", taskq.NewID()); !errors.Is(err, taskq.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	r.q.set(func(q *fakeQueue) { q.getErr = fmt.Errorf("get: %w", taskq.ErrUnavailable) })
	if _, err := r.d.Get(context.Background(), "t1", taskq.NewID()); !errors.Is(err, taskq.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if _, err := r.d.DeadLetters(context.Background(), "t1", "g", 10); !errors.Is(err, taskq.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if v := r.metric(t, "task_queue_failures_total", "get"); v != 2 {
		t.Fatalf("task_queue_failures_total{get} = %v, want 2", v)
	}
}

func TestStopReleasesWhatWorkersHoldAndRefusesNewWork(t *testing.T) {
	r := newRig(t)
	a, b := newWorker("a"), newWorker("b")
	r.join(t, a, "g")
	r.join(t, b, "h")
	id := r.submit(t, "g")
	waitTasks(t, a, 1)

	r.d.Stop()
	r.d.Stop()

	var released []string
	for _, rel := range r.q.releaseCalls() {
		released = append(released, rel.ids...)
	}
	if len(released) != 1 || released[0] != id {
		t.Fatalf("released %v, want [%s]", released, id)
	}
	recs := r.records(t, "task dispatcher stopped")
	if len(recs) != 1 || recs[0]["workers"] != 2.0 || recs[0]["level"] != "INFO" {
		t.Fatalf("stop records = %v", recs)
	}
	if n, v := r.d.Workers(), r.metric(t, "task_workers"); n != 0 || v != 0 {
		t.Fatalf("after Stop: Workers() = %d, task_workers = %v", n, v)
	}
	if err := r.d.Join(a, "g"); !errors.Is(err, taskq.ErrClosed) {
		t.Fatalf("join after stop: %v", err)
	}
	if _, err := r.d.Submit(context.Background(), "t1", "g", []byte(`{}`)); !errors.Is(err, taskq.ErrClosed) {
		t.Fatalf("submit after stop: %v", err)
	}
	if _, err := r.d.Complete(context.Background(), "a", id, true, nil); !errors.Is(err, taskq.ErrClosed) {
		t.Fatalf("complete after stop: %v", err)
	}
}

func TestStopWithoutStartAndDefaults(t *testing.T) {
	q := newFakeQueue(newFakeClock(), visibility)
	d := taskq.NewDispatcher(taskq.Options{Queue: q, Visibility: visibility})
	if err := d.Join(newWorker("a"), "g"); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	if rel := q.releaseCalls(); len(rel) != 1 || rel[0].worker != "a" {
		t.Fatalf("releases = %+v", rel)
	}
	d.Start() // after Stop: no loop (goleak would see it)
}

func TestTheRealClockDrivesThePoll(t *testing.T) {
	q := newFakeQueue(newFakeClock(), visibility)
	d := taskq.NewDispatcher(taskq.Options{Queue: q, Visibility: visibility, PollInterval: time.Millisecond})
	d.Start()
	defer d.Stop()
	w := newWorker("a")
	if err := d.Join(w, "g"); err != nil {
		t.Fatal(err)
	}
	if err := q.Submit(context.Background(), "t1", "g", "task_remote", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, w, 1)
}

func TestNotHeldFromTheQueueFreesTheSlot(t *testing.T) {
	r := newRig(t)
	w := newWorker("a")
	r.join(t, w, "g")
	first, second := r.submit(t, "g"), r.submit(t, "g")
	waitTasks(t, w, 1)
	r.q.set(func(q *fakeQueue) { q.completeErr = fmt.Errorf("complete %s: %w", first, taskq.ErrNotHeld) })
	if _, err := r.d.Complete(context.Background(), "a", first, true, nil); !errors.Is(err, taskq.ErrNotHeld) {
		t.Fatalf("err = %v, want ErrNotHeld", err)
	}
	if got := waitTasks(t, w, 2); got[1].ID != second {
		t.Fatalf("next task = %s, want %s", got[1].ID, second)
	}
	if v := r.metric(t, "task_queue_failures_total", "complete"); v != 0 {
		t.Fatalf("ErrNotHeld counted as a queue failure: %v", v)
	}
}
