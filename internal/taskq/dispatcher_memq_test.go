package taskq_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// memRig is a started dispatcher over the memory backend on a fake clock.
func memRig(t *testing.T, limits taskq.Limits) (*taskq.Dispatcher, *fakeClock, *metrics.Metrics, *testutil.LogBuffer) {
	t.Helper()
	clock := newFakeClock()
	q := memq.New(memq.Options{Limits: limits, Clock: clock.Now})
	m, logs := metrics.New(nil), &testutil.LogBuffer{}
	d := taskq.NewDispatcher(taskq.Options{
		Queue: q, Visibility: limits.Visibility, PollInterval: poll, Clock: clock,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m,
	})
	d.Start()
	t.Cleanup(func() {
		d.Stop()
		if err := q.Close(); err != nil {
			t.Errorf("close memq: %v", err)
		}
		if t.Failed() {
			t.Logf("dispatcher logs:\n%s", logs)
		}
	})
	return d, clock, m, logs
}

func TestWithMemq_ATaskGoesRoundTheLifecycle(t *testing.T) {
	limits := taskq.Limits{QueueMax: 10, MaxAttempts: 3, Visibility: visibility, ResultTTL: time.Hour}
	d, clock, m, logs := memRig(t, limits)
	ctx := context.Background()
	a, b := newWorker("a"), newWorker("b")
	if err := d.Join(a, "g"); err != nil {
		t.Fatal(err)
	}

	// Delivered at once, then left unanswered: it expires and comes back.
	id, err := d.Submit(ctx, "t1", "g", []byte(`{"job":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := waitTasks(t, a, 1); got[0].ID != id || got[0].Attempt != 1 {
		t.Fatalf("a got %+v", got[0])
	}
	taskq.Idle(t, d) // the poll timer is armed: the advance fires it
	clock.Advance(visibility)
	if got := waitTasks(t, a, 2); got[1].ID != id || got[1].Attempt != 2 {
		t.Fatalf("redelivery = %+v, want %s attempt 2", got[1], id)
	}

	// The worker leaves: b gets it, and the expiry of that third (last)
	// attempt kills it.
	if err := d.Join(b, "g"); err != nil {
		t.Fatal(err)
	}
	if left, err := d.Leave(ctx, "a", "g"); !left || err != nil {
		t.Fatalf("leave = %v, %v", left, err)
	}
	if got := waitTasks(t, b, 1); got[0].ID != id || got[0].Attempt != 3 {
		t.Fatalf("b got %+v, want %s attempt 3", got[0], id)
	}
	taskq.Idle(t, d) // the poll timer is armed: the advance fires it
	clock.Advance(visibility)
	testutil.Eventually(t, func() bool {
		return testutil.MetricValue(t, m.Registry, "tasks_dead_total") == 1 && logs.Contains(`"msg":"task dead"`)
	}, waitFor, "the task to be dead, counted and logged")
	info, err := d.Get(ctx, "t1", id)
	if err != nil || info.State != taskq.StateDead {
		t.Fatalf("get = %+v, %v; want dead", info, err)
	}
	dl, err := d.DeadLetters(ctx, "t1", "g", 0)
	if err != nil || len(dl) != 1 || dl[0].TaskID != id {
		t.Fatalf("dead letters = %+v, %v", dl, err)
	}

	// A fresh task is answered: done, and its late second answer is refused.
	id2, err := d.Submit(ctx, "t1", "g", []byte(`{"job":2}`))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, func() bool { return len(b.tasks()) == 2 }, waitFor, "b to get the second task")
	if got := b.tasks()[1]; got.ID != id2 {
		t.Fatalf("b got %s, want %s", got.ID, id2)
	}
	if st, err := d.Complete(ctx, "b", id2, true, []byte(`{"answer":42}`)); err != nil || st != taskq.StateDone {
		t.Fatalf("complete = %q, %v", st, err)
	}
	if _, err := d.Complete(ctx, "b", id2, true, nil); !errors.Is(err, taskq.ErrNotHeld) {
		t.Fatalf("second answer: %v, want ErrNotHeld", err)
	}
	info, err = d.Get(ctx, "t1", id2)
	if err != nil || info.State != taskq.StateDone || string(info.Result) != `{"answer":42}` {
		t.Fatalf("get = %+v, %v", info, err)
	}
}

func TestWithMemq_AFullQueueIsErrQueueFull(t *testing.T) {
	d, _, m, _ := memRig(t, taskq.Limits{QueueMax: 1, MaxAttempts: 2, Visibility: visibility, ResultTTL: time.Hour})
	ctx := context.Background()
	if _, err := d.Submit(ctx, "t1", "g", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Submit(ctx, "t1", "g", []byte(`{}`)); !errors.Is(err, taskq.ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
	if v := testutil.MetricValue(t, m.Registry, "task_queue_failures_total", "submit"); v != 0 {
		t.Fatalf("a full queue counted as a failure: %v", v)
	}
}
