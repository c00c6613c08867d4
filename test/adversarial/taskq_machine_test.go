package adversarial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"pgregory.net/rapid"

	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// The queue machine works in one (tenant, group) with a few workers; the
// bound keeps every claim within what one Claim call scans.
const (
	qmTenant, qmGroup = "acme", "jobs"
	qmQueueMax        = 5
	qmMaxAttempts     = 3
	qmVisibility      = time.Second
	// qmResultTTL outlives any run, so no finished task is forgotten while
	// the machine still checks it.
	qmResultTTL = 24 * time.Hour
)

var qmWorkers = []string{"w1", "w2", "w3"}

// qmTask is the model of one submitted task.
type qmTask struct {
	id       string
	body     []byte
	state    taskq.State
	attempts int       // deliveries made
	holder   string    // running: the worker of the last delivery; "" once released
	deadline time.Time // running: when the last delivery expires (release: the release time)
	result   []byte
}

// held reports whether worker holds t at now: the model of ErrNotHeld.
func (t *qmTask) held(worker string, now time.Time) bool {
	return t.state == taskq.StateRunning && t.holder != "" && t.holder == worker && now.Before(t.deadline)
}

// claimable reports whether t's delivery ended (expired or released) so a
// Claim may take it again (or retire it when its attempts ran out).
func (t *qmTask) claimable(now time.Time) bool {
	return t.state == taskq.StateRunning && (t.holder == "" || !now.Before(t.deadline))
}

// queueMachine drives a taskq.Queue directly, with time moved by hand, and
// keeps the model: every task ever submitted with its state, deliveries,
// holder and result, and the dead-letter list in order.
type queueMachine struct {
	q       taskq.Queue
	now     func() time.Time
	advance func(time.Duration)
	tasks   map[string]*qmTask
	order   []string // submission order
	dead    []string // dead-letter list, oldest first
	n       int
}

func (m *queueMachine) ctx() context.Context { return context.Background() }

// pick draws a task id: one submitted, or (sometimes) one never submitted.
func (m *queueMachine) pick(t *rapid.T) string {
	if len(m.order) == 0 || rapid.IntRange(0, 9).Draw(t, "forged") == 0 {
		return taskq.NewID()
	}
	return rapid.SampledFrom(m.order).Draw(t, "task")
}

func (m *queueMachine) unfinished() int {
	n := 0
	for _, tk := range m.tasks {
		if !tk.state.Final() {
			n++
		}
	}
	return n
}

func (m *queueMachine) Submit(t *rapid.T) {
	m.n++
	id, body := taskq.NewID(), []byte(fmt.Sprintf(`{"n":%d,"s":"x y"}`, m.n))
	err := m.q.Submit(m.ctx(), qmTenant, qmGroup, id, body)
	if m.unfinished() >= qmQueueMax {
		if !errors.Is(err, taskq.ErrQueueFull) {
			t.Fatalf("submit with %d unfinished tasks (bound %d): %v, want ErrQueueFull", m.unfinished(), qmQueueMax, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	m.tasks[id] = &qmTask{id: id, body: body, state: taskq.StateQueued}
	m.order = append(m.order, id)
}

func (m *queueMachine) Claim(t *rapid.T) {
	worker := rapid.SampledFrom(qmWorkers).Draw(t, "worker")
	n := rapid.IntRange(1, 3).Draw(t, "n")
	now := m.now()
	var again, dying, queued []string // claimable with attempts left; claimable with none; never delivered
	for _, id := range m.order {
		tk := m.tasks[id]
		switch {
		case tk.state == taskq.StateQueued:
			queued = append(queued, id)
		case tk.claimable(now) && tk.attempts >= qmMaxAttempts:
			dying = append(dying, id)
		case tk.claimable(now):
			again = append(again, id)
		}
	}
	c, err := m.q.Claim(m.ctx(), qmTenant, qmGroup, worker, n)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(c.Corrupt) > 0 {
		t.Fatalf("claim found corrupt entries: %+v", c.Corrupt)
	}
	for _, dl := range c.Dead {
		if !slices.Contains(dying, dl.TaskID) {
			t.Fatalf("claim retired %s, which the model does not have at %d ended deliveries (dying: %v)", dl.TaskID, qmMaxAttempts, dying)
		}
		if dl.Reason != taskq.DeadAttempts || dl.Attempts != qmMaxAttempts || !bytes.Equal(dl.Body, m.tasks[dl.TaskID].body) {
			t.Fatalf("dead letter %+v, want reason %s, %d attempts, the body as submitted", dl, taskq.DeadAttempts, qmMaxAttempts)
		}
		tk := m.tasks[dl.TaskID]
		tk.state, tk.holder = taskq.StateDead, ""
		m.dead = append(m.dead, dl.TaskID)
	}
	if len(c.Tasks) > n {
		t.Fatalf("claim of %d handed %d tasks", n, len(c.Tasks))
	}
	if want := min(n, len(again)+len(queued)); len(c.Tasks) != want {
		t.Fatalf("claim of %d handed %d tasks, the model has %d to hand (%d to redeliver, %d queued)", n, len(c.Tasks), want, len(again), len(queued))
	}
	var fromQueue []string
	seen := map[string]bool{}
	for _, got := range c.Tasks {
		if seen[got.ID] {
			t.Fatalf("claim handed %s twice", got.ID)
		}
		seen[got.ID] = true
		tk := m.tasks[got.ID]
		switch {
		case tk == nil:
			t.Fatalf("claim handed %s, never submitted", got.ID)
		case slices.Contains(queued, got.ID):
			fromQueue = append(fromQueue, got.ID)
		case !slices.Contains(again, got.ID):
			t.Fatalf("claim handed %s in state %s held by %q until %s (now %s): it is not free to deliver",
				got.ID, tk.state, tk.holder, tk.deadline, now)
		}
		if got.Tenant != qmTenant || got.Group != qmGroup || got.Attempt != tk.attempts+1 || !bytes.Equal(got.Body, tk.body) {
			t.Fatalf("delivery %+v, want tenant %s, group %s, attempt %d, body %s", got, qmTenant, qmGroup, tk.attempts+1, tk.body)
		}
		tk.state, tk.holder, tk.deadline = taskq.StateRunning, worker, now.Add(qmVisibility)
		tk.attempts++
	}
	// Ended deliveries come first, then queued tasks in submission order.
	if len(fromQueue) > 0 {
		if !slices.Equal(fromQueue, queued[:len(fromQueue)]) {
			t.Fatalf("claim took queued tasks %v, not the oldest %v", fromQueue, queued[:len(fromQueue)])
		}
		if handedAgain := len(c.Tasks) - len(fromQueue); handedAgain != len(again) {
			t.Fatalf("claim took queued tasks while %d ended deliveries waited (it redelivered %d)", len(again), handedAgain)
		}
	}
	if len(fromQueue) > 0 || len(c.Tasks) < n {
		if len(c.Dead) != len(dying) {
			t.Fatalf("claim went past %d tasks whose attempts ran out and retired only %d", len(dying), len(c.Dead))
		}
	}
}

func (m *queueMachine) Complete(t *rapid.T) {
	id := m.pick(t)
	worker := rapid.SampledFrom(qmWorkers).Draw(t, "worker")
	ok := rapid.Bool().Draw(t, "ok")
	m.n++
	result := []byte(fmt.Sprintf(`{ "by": %q, "n": %d }`, worker, m.n))
	st, err := m.q.Complete(m.ctx(), qmTenant, qmGroup, worker, id, ok, result)
	tk := m.tasks[id]
	if tk == nil || !tk.held(worker, m.now()) {
		if !errors.Is(err, taskq.ErrNotHeld) {
			t.Fatalf("complete %s by %s, which the model says does not hold it: state %q, err %v", id, worker, st, err)
		}
		return
	}
	want := taskq.StateFailed
	if ok {
		want = taskq.StateDone
	}
	if err != nil || st != want {
		t.Fatalf("complete %s by its holder %s: state %q, err %v; want %s", id, worker, st, err, want)
	}
	tk.state, tk.holder, tk.result = want, "", result
}

func (m *queueMachine) Release(t *rapid.T) {
	worker := rapid.SampledFrom(qmWorkers).Draw(t, "worker")
	k := rapid.IntRange(0, 3).Draw(t, "ids")
	ids := make([]string, 0, k)
	for range k {
		ids = append(ids, m.pick(t))
	}
	if err := m.q.Release(m.ctx(), qmTenant, qmGroup, worker, ids); err != nil {
		t.Fatalf("release %v by %s: %v", ids, worker, err)
	}
	now := m.now()
	for _, id := range ids {
		if tk := m.tasks[id]; tk != nil && tk.held(worker, now) {
			tk.holder, tk.deadline = "", now
		}
	}
}

func (m *queueMachine) Advance(t *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{
		time.Millisecond, qmVisibility / 2, qmVisibility - time.Millisecond, qmVisibility, qmVisibility + time.Millisecond,
	}).Draw(t, "advance")
	m.advance(d)
}

// Check is the invariant after every step: every task ever submitted is
// still there (queued, running, done, failed or dead) with the model's
// state, its attempts equal to the deliveries made, the result of the one
// completion that counted, and the dead-letter list is the model's newest
// QueueMax entries, in order.
func (m *queueMachine) Check(t *rapid.T) {
	now := m.now()
	for _, id := range m.order {
		tk := m.tasks[id]
		info, err := m.q.Get(m.ctx(), qmTenant, id)
		if err != nil {
			t.Fatalf("get %s (model: %s): %v: a submitted task disappeared", id, tk.state, err)
		}
		okState := info.State == tk.state
		if tk.claimable(now) {
			// An ended delivery (expired or released) is not yet claimed
			// again: it reads as running, or as queued once released.
			okState = info.State == taskq.StateRunning || info.State == taskq.StateQueued
		}
		if !okState || info.Attempts != tk.attempts || info.Group != qmGroup || info.ID != id {
			t.Fatalf("get %s: %+v; model: state %s, %d deliveries, holder %q until %s (now %s)",
				id, info, tk.state, tk.attempts, tk.holder, tk.deadline, now)
		}
		if (tk.state == taskq.StateDone || tk.state == taskq.StateFailed) != (info.Result != nil) ||
			info.Result != nil && !bytes.Equal(info.Result, tk.result) {
			t.Fatalf("get %s: result %s, model %s (state %s)", id, info.Result, tk.result, tk.state)
		}
	}
	dl, err := m.q.DeadLetters(m.ctx(), qmTenant, qmGroup, 0)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	got := make([]string, 0, len(dl))
	for _, d := range dl {
		got = append(got, d.TaskID)
	}
	want := m.dead[max(0, len(m.dead)-qmQueueMax):] // the list keeps the newest QueueMax
	if !slices.Equal(got, want) {
		t.Fatalf("dead-letter list %v, model %v", got, want)
	}
}

func qmLimits() taskq.Limits {
	return taskq.Limits{QueueMax: qmQueueMax, MaxAttempts: qmMaxAttempts, Visibility: qmVisibility, ResultTTL: qmResultTTL}
}

// Property: the memory queue keeps its contract under any sequence of
// submits, claims, completions by holders and by anyone else, releases and
// time passing: one holder per task, attempts equal deliveries, a finished
// task is never handed out again, nothing submitted vanishes, a task dies
// exactly when its last allowed delivery ended, and ErrNotHeld answers
// exactly the callers that do not hold the task.
func TestPropertyTheMemoryTaskQueueMatchesItsModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clock := taskqtest.NewClock()
		q := memq.New(memq.Options{Limits: qmLimits(), Clock: clock.Now})
		defer func() { _ = q.Close() }()
		t.Repeat(rapid.StateMachineActions(&queueMachine{q: q, now: clock.Now, advance: clock.Advance, tasks: map[string]*qmTask{}}))
	})
}

// Property: the same model holds for the Redis queue, on miniredis with
// its clock moved by hand: SetTime drives the idle time of pending entries
// (what XAUTOCLAIM and XPENDING see), FastForward the key TTLs.
func TestPropertyTheRedisTaskQueueMatchesItsModel(t *testing.T) {
	// One server and client for every run (each starts from an empty
	// database), so the scripts are loaded once.
	mr := redistest.MiniRedis(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	rapid.Check(t, func(t *rapid.T) {
		mr.FlushAll()
		clock := taskqtest.NewClock()
		mr.SetTime(clock.Now())
		q, err := redisq.New(redisq.Options{Client: c, Limits: qmLimits(), Clock: clock.Now})
		if err != nil {
			t.Fatalf("redisq: %v", err)
		}
		defer func() { _ = q.Close() }()
		advance := func(d time.Duration) {
			clock.Advance(d)
			mr.SetTime(clock.Now())
			mr.FastForward(d)
		}
		t.Repeat(rapid.StateMachineActions(&queueMachine{q: q, now: clock.Now, advance: advance, tasks: map[string]*qmTask{}}))
	})
}
