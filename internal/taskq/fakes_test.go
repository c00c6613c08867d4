package taskq_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the time on and fires the After channels now due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// pending is the number of After channels not fired yet.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// fakeWorker records what it is handed; refuse makes Deliver fail.
type fakeWorker struct {
	id, tenant string

	mu     sync.Mutex
	got    []taskq.Task
	refuse bool
}

func newWorker(id string) *fakeWorker { return &fakeWorker{id: id, tenant: "t1"} }

func (w *fakeWorker) ID() string     { return w.id }
func (w *fakeWorker) Tenant() string { return w.tenant }

func (w *fakeWorker) Deliver(t taskq.Task) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refuse {
		w.got = append(w.got, taskq.Task{}) // counted as an offer, not a delivery
		return false
	}
	w.got = append(w.got, t)
	return true
}

func (w *fakeWorker) setRefuse(v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refuse = v
}

// tasks returns what the worker accepted, in order.
func (w *fakeWorker) tasks() []taskq.Task {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []taskq.Task
	for _, t := range w.got {
		if t.ID != "" {
			out = append(out, t)
		}
	}
	return out
}

// offers is the number of Deliver calls, refused ones included.
func (w *fakeWorker) offers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

// fakeQueue is a one-node Queue on the fake clock with the semantics of
// the Queue contract (visibility, attempts, release, dead letters), plus
// failure injection, scripted dead and corrupt entries, and a record of
// the calls the dispatcher made.
type fakeQueue struct {
	clock       *fakeClock
	visibility  time.Duration
	maxAttempts int

	mu    sync.Mutex
	tasks map[string]*fakeTask
	order map[string][]string // tenant/group -> ids in submission order
	dead  map[string][]taskq.DeadLetter

	claimErr, completeErr, releaseErr, submitErr, getErr error
	nextDead                                             []taskq.DeadLetter
	nextCorrupt                                          []taskq.Corrupt
	gate                                                 chan struct{} // when set, Claim waits on it
	entered                                              chan struct{} // signalled when a Claim waits on gate

	claims    []claimCall
	releases  []releaseCall
	completes int
}

type fakeTask struct {
	tenant, group, id string
	body              []byte
	state             taskq.State
	attempts          int
	worker            string
	deadline          time.Time
	released          bool
	result            []byte
}

type claimCall struct {
	tenant, group, worker string
	n, got                int
}

type releaseCall struct {
	tenant, group, worker string
	ids                   []string
}

func newFakeQueue(c *fakeClock, visibility time.Duration) *fakeQueue {
	return &fakeQueue{clock: c, visibility: visibility, maxAttempts: 3,
		tasks: map[string]*fakeTask{}, order: map[string][]string{}, dead: map[string][]taskq.DeadLetter{}}
}

var _ taskq.Queue = (*fakeQueue)(nil)

func gk(tenant, group string) string { return tenant + "/" + group }

func (q *fakeQueue) Submit(_ context.Context, tenant, group, id string, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.submitErr != nil {
		return q.submitErr
	}
	q.tasks[id] = &fakeTask{tenant: tenant, group: group, id: id, body: body, state: taskq.StateQueued}
	q.order[gk(tenant, group)] = append(q.order[gk(tenant, group)], id)
	return nil
}

func (q *fakeQueue) Claim(ctx context.Context, tenant, group, worker string, n int) (taskq.Claimed, error) {
	q.mu.Lock()
	gate, entered := q.gate, q.entered
	q.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return taskq.Claimed{}, ctx.Err()
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	call := claimCall{tenant: tenant, group: group, worker: worker, n: n}
	if q.claimErr != nil {
		q.claims = append(q.claims, call)
		return taskq.Claimed{}, q.claimErr
	}
	now := q.clock.Now()
	var c taskq.Claimed
	c.Dead, q.nextDead = q.nextDead, nil
	c.Corrupt, q.nextCorrupt = q.nextCorrupt, nil
	ids := q.order[gk(tenant, group)]
	take := func(t *fakeTask) {
		t.state, t.worker, t.released = taskq.StateRunning, worker, false
		t.attempts++
		t.deadline = now.Add(q.visibility)
		c.Tasks = append(c.Tasks, taskq.Task{ID: t.id, Tenant: tenant, Group: group, Body: t.body, Attempt: t.attempts})
	}
	for _, id := range ids { // expired or released first
		t := q.tasks[id]
		if len(c.Tasks) == n {
			break
		}
		again := t.released || (t.state == taskq.StateRunning && !now.Before(t.deadline))
		if !again {
			continue
		}
		if t.state == taskq.StateRunning && t.attempts >= q.maxAttempts {
			t.state = taskq.StateDead
			dl := taskq.DeadLetter{TaskID: id, Reason: taskq.DeadAttempts, Attempts: t.attempts, Body: t.body, At: now}
			q.dead[gk(tenant, group)] = append(q.dead[gk(tenant, group)], dl)
			c.Dead = append(c.Dead, dl)
			continue
		}
		take(t)
	}
	for _, id := range ids {
		t := q.tasks[id]
		if len(c.Tasks) == n {
			break
		}
		if t.state == taskq.StateQueued && !t.released {
			take(t)
		}
	}
	call.got = len(c.Tasks)
	q.claims = append(q.claims, call)
	return c, nil
}

func (q *fakeQueue) Complete(_ context.Context, tenant, group, worker, id string, ok bool, result []byte) (taskq.State, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.completes++
	if q.completeErr != nil {
		return "", q.completeErr
	}
	t := q.tasks[id]
	if t == nil || t.tenant != tenant || t.group != group || t.state != taskq.StateRunning ||
		t.worker != worker || !q.clock.Now().Before(t.deadline) {
		return "", fmt.Errorf("complete %s: %w", id, taskq.ErrNotHeld)
	}
	t.state, t.result = taskq.StateFailed, result
	if ok {
		t.state = taskq.StateDone
	}
	return t.state, nil
}

func (q *fakeQueue) Release(_ context.Context, tenant, group, worker string, ids []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releases = append(q.releases, releaseCall{tenant, group, worker, slices.Clone(ids)})
	if q.releaseErr != nil {
		return q.releaseErr
	}
	for _, id := range ids {
		t := q.tasks[id]
		if t != nil && t.state == taskq.StateRunning && t.worker == worker {
			t.state, t.worker, t.released = taskq.StateQueued, "", true
		}
	}
	return nil
}

func (q *fakeQueue) Get(_ context.Context, tenant, id string) (taskq.Info, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.getErr != nil {
		return taskq.Info{}, q.getErr
	}
	t := q.tasks[id]
	if t == nil || t.tenant != tenant {
		return taskq.Info{}, taskq.ErrNotFound
	}
	return taskq.Info{ID: id, Group: t.group, State: t.state, Attempts: t.attempts, Result: t.result}, nil
}

func (q *fakeQueue) DeadLetters(_ context.Context, tenant, group string, limit int) ([]taskq.DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.getErr != nil {
		return nil, q.getErr
	}
	out := slices.Clone(q.dead[gk(tenant, group)])
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (q *fakeQueue) Close() error { return nil }

func (q *fakeQueue) set(f func(q *fakeQueue)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f(q)
}

func (q *fakeQueue) claimCalls() []claimCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.claims)
}

func (q *fakeQueue) releaseCalls() []releaseCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.releases)
}

func (q *fakeQueue) completeCalls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.completes
}
