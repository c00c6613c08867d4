// Package memq is the in-process taskq.Queue (SPEC §11.1, memory backend:
// dev, one node, lost on restart), with the same semantics as the Redis
// backend.
//
// Each (tenant, group) holds a FIFO of queued tasks, a min-heap of running
// tasks ordered by delivery deadline (delivery time + Limits.Visibility;
// released tasks get the release time, so they come first), and its
// dead-letter list. Tasks are keyed by (tenant, id): no id reaches another
// tenant's task. A delivery is held while the clock is before its
// deadline; from the deadline on it may be claimed again, even if nobody
// has done so yet. A task whose delivery expired reads as running until it
// is claimed again; a released one reads as queued (as in redisq).
//
// Finished tasks (done, failed, dead) keep their result until ResultTTL
// after they finished; their body is dropped when they finish. They are
// forgotten lazily: every call sweeps at most sweepBatch of them from a
// FIFO of expiries (ResultTTL is one for all, so finishing order is expiry
// order), and Get checks the expiry of what it reads.
//
// The dead-letter list of a group keeps the newest QueueMax entries when
// QueueMax > 0 (older ones are dropped), and every entry otherwise.
//
// Concurrency: one mutex guards everything; bodies and results are copied
// in and out.
package memq

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

var _ taskq.Queue = (*Queue)(nil)

// sweepBatch bounds the expired finished tasks one call forgets. A call
// finishes one task at most, except a Claim that retires several dead
// ones, so the sweep keeps up.
const sweepBatch = 64

// compactAt is the least number of consumed slots at the head of a FIFO
// before its slice is compacted.
const compactAt = 256

type groupKey struct{ tenant, group string }

type taskKey struct{ tenant, id string }

type task struct {
	id       string
	group    string
	seq      uint64 // submission order: breaks deadline ties
	state    taskq.State
	attempts int
	holder   string    // running: the worker of the last delivery; "" once released
	deadline time.Time // running: the end of the delivery's visibility
	body     []byte    // dropped when the task finishes
	result   []byte
	expires  time.Time // finished: when Get stops finding it
	idx      int       // running: index in the group's heap
}

// runHeap orders a group's running tasks by deadline, then submission.
type runHeap []*task

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if !h[i].deadline.Equal(h[j].deadline) {
		return h[i].deadline.Before(h[j].deadline)
	}
	return h[i].seq < h[j].seq
}
func (h runHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *runHeap) Push(x any) {
	t := x.(*task)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *runHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// grp is one (tenant, group).
type grp struct {
	queued  []*task // FIFO from queued[head]
	head    int
	running runHeap
	dead    []taskq.DeadLetter // oldest first; the newest QueueMax count when bounded
}

func (g *grp) queuedLen() int  { return len(g.queued) - g.head }
func (g *grp) unfinished() int { return g.queuedLen() + g.running.Len() }
func (g *grp) empty() bool     { return g.unfinished() == 0 && len(g.dead) == 0 }

func (g *grp) pop() *task {
	t := g.queued[g.head]
	g.queued[g.head] = nil
	g.head++
	switch {
	case g.head == len(g.queued):
		g.queued, g.head = g.queued[:0], 0
	case g.head >= compactAt && 2*g.head >= len(g.queued):
		n := copy(g.queued, g.queued[g.head:])
		clear(g.queued[n:])
		g.queued, g.head = g.queued[:n], 0
	}
	return t
}

type expiry struct {
	key taskKey
	at  time.Time
}

// Options configure a Queue.
type Options struct {
	Limits taskq.Limits
	// Clock reads the time deadlines and expiries compare with. Default
	// time.Now.
	Clock func() time.Time
}

// Queue is the memory backend.
type Queue struct {
	limits taskq.Limits
	clock  func() time.Time

	mu       sync.Mutex
	closed   bool
	seq      uint64
	tasks    map[taskKey]*task
	groups   map[groupKey]*grp
	finished []expiry // FIFO from finished[fhead]
	fhead    int
}

// New returns an empty Queue.
func New(o Options) *Queue {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Queue{
		limits: o.Limits,
		clock:  o.Clock,
		tasks:  map[taskKey]*task{},
		groups: map[groupKey]*grp{},
	}
}

// enter locks q (the caller unlocks it), and unless q is closed sweeps it
// and returns the time the call runs at; op names the call in the error.
func (q *Queue) enter(op string) (time.Time, error) {
	now := q.clock()
	q.mu.Lock()
	if q.closed {
		return now, fmt.Errorf("%s: %w", op, taskq.ErrClosed)
	}
	q.sweep(now)
	return now, nil
}

// Submit implements taskq.Queue.
func (q *Queue) Submit(_ context.Context, tenant, group, id string, body []byte) error {
	_, err := q.enter("submit")
	defer q.mu.Unlock()
	if err != nil {
		return err
	}
	key := taskKey{tenant, id}
	if _, ok := q.tasks[key]; ok {
		return fmt.Errorf("submit %s: task id already in use", id)
	}
	gk := groupKey{tenant, group}
	g := q.groups[gk]
	if g != nil && q.limits.QueueMax > 0 && g.unfinished() >= q.limits.QueueMax {
		return fmt.Errorf("submit to %s: %d unfinished tasks (limit %d): %w",
			group, g.unfinished(), q.limits.QueueMax, taskq.ErrQueueFull)
	}
	if g == nil {
		g = &grp{}
		q.groups[gk] = g
	}
	q.seq++
	t := &task{id: id, group: group, seq: q.seq, state: taskq.StateQueued, body: slices.Clone(body), idx: -1}
	q.tasks[key] = t
	g.queued = append(g.queued, t)
	return nil
}

// Claim implements taskq.Queue.
func (q *Queue) Claim(_ context.Context, tenant, group, worker string, n int) (taskq.Claimed, error) {
	now, err := q.enter("claim")
	defer q.mu.Unlock()
	if err != nil {
		return taskq.Claimed{}, err
	}
	var out taskq.Claimed
	gk := groupKey{tenant, group}
	g := q.groups[gk]
	if g == nil || n <= 0 {
		return out, nil
	}
	for len(out.Tasks) < n && g.running.Len() > 0 {
		t := g.running[0]
		if now.Before(t.deadline) {
			break
		}
		if t.attempts >= q.limits.MaxAttempts {
			heap.Pop(&g.running)
			out.Dead = append(out.Dead, q.kill(g, t, tenant, now))
			continue
		}
		out.Tasks = append(out.Tasks, q.deliver(t, tenant, worker, now))
		heap.Fix(&g.running, 0)
	}
	for len(out.Tasks) < n && g.queuedLen() > 0 {
		t := g.pop()
		out.Tasks = append(out.Tasks, q.deliver(t, tenant, worker, now))
		heap.Push(&g.running, t)
	}
	q.dropIfEmpty(gk, g)
	return out, nil
}

// deliver hands t to worker. q.mu is held; the caller places t in the heap.
func (q *Queue) deliver(t *task, tenant, worker string, now time.Time) taskq.Task {
	t.state = taskq.StateRunning
	t.holder = worker
	t.attempts++
	t.deadline = now.Add(q.limits.Visibility)
	return taskq.Task{
		ID:      t.id,
		Tenant:  tenant,
		Group:   t.group,
		Body:    json.RawMessage(slices.Clone(t.body)),
		Attempt: t.attempts,
	}
}

// kill makes t dead and appends it to g's dead-letter list; t is already
// out of the heap. It returns a copy of the entry. q.mu is held.
func (q *Queue) kill(g *grp, t *task, tenant string, now time.Time) taskq.DeadLetter {
	d := taskq.DeadLetter{TaskID: t.id, Reason: taskq.DeadAttempts, Attempts: t.attempts, Body: t.body, At: now}
	g.dead = append(g.dead, d)
	if limit := q.limits.QueueMax; limit > 0 && len(g.dead) >= 2*limit {
		n := copy(g.dead, g.dead[len(g.dead)-limit:])
		clear(g.dead[n:])
		g.dead = g.dead[:n]
	}
	q.finish(t, tenant, taskq.StateDead, nil, now)
	d.Body = slices.Clone(d.Body)
	return d
}

// finish ends t in state with result and schedules it to be forgotten.
// q.mu is held; t is out of its group's queue and heap.
func (q *Queue) finish(t *task, tenant string, state taskq.State, result []byte, now time.Time) {
	t.state, t.holder, t.body, t.idx = state, "", nil, -1
	t.result = slices.Clone(result)
	t.expires = now.Add(q.limits.ResultTTL)
	q.finished = append(q.finished, expiry{key: taskKey{tenant, t.id}, at: t.expires})
}

// Complete implements taskq.Queue.
func (q *Queue) Complete(_ context.Context, tenant, group, worker, id string, ok bool, result []byte) (taskq.State, error) {
	now, err := q.enter("complete")
	defer q.mu.Unlock()
	if err != nil {
		return "", err
	}
	t := q.held(tenant, group, worker, id, now)
	if t == nil {
		return "", fmt.Errorf("complete %s: %w", id, taskq.ErrNotHeld)
	}
	gk := groupKey{tenant, group}
	g := q.groups[gk]
	heap.Remove(&g.running, t.idx)
	state := taskq.StateFailed
	if ok {
		state = taskq.StateDone
	}
	q.finish(t, tenant, state, result, now)
	q.dropIfEmpty(gk, g)
	return state, nil
}

// Release implements taskq.Queue.
func (q *Queue) Release(_ context.Context, tenant, group, worker string, ids []string) error {
	now, err := q.enter("release")
	defer q.mu.Unlock()
	if err != nil {
		return err
	}
	for _, id := range ids {
		t := q.held(tenant, group, worker, id, now)
		if t == nil {
			continue
		}
		t.holder, t.deadline = "", now
		heap.Fix(&q.groups[groupKey{tenant, group}].running, t.idx)
	}
	return nil
}

// held returns the task id of (tenant, group) when worker holds it now, or
// nil. q.mu is held.
func (q *Queue) held(tenant, group, worker, id string, now time.Time) *task {
	t := q.tasks[taskKey{tenant, id}]
	if t == nil || t.group != group || t.state != taskq.StateRunning || t.holder != worker || !now.Before(t.deadline) {
		return nil
	}
	return t
}

// Get implements taskq.Queue.
func (q *Queue) Get(_ context.Context, tenant, id string) (taskq.Info, error) {
	now, err := q.enter("get")
	defer q.mu.Unlock()
	if err != nil {
		return taskq.Info{}, err
	}
	key := taskKey{tenant, id}
	t := q.tasks[key]
	if t == nil {
		return taskq.Info{}, fmt.Errorf("get %s: %w", id, taskq.ErrNotFound)
	}
	if t.state.Final() && !now.Before(t.expires) {
		delete(q.tasks, key) // its entry in q.finished finds nothing later
		return taskq.Info{}, fmt.Errorf("get %s: %w", id, taskq.ErrNotFound)
	}
	state := t.state
	if state == taskq.StateRunning && t.holder == "" {
		state = taskq.StateQueued // released: waiting for a worker, as redisq reads it
	}
	return taskq.Info{
		ID:       t.id,
		Group:    t.group,
		State:    state,
		Attempts: t.attempts,
		Result:   json.RawMessage(slices.Clone(t.result)),
	}, nil
}

// DeadLetters implements taskq.Queue.
func (q *Queue) DeadLetters(_ context.Context, tenant, group string, limit int) ([]taskq.DeadLetter, error) {
	_, err := q.enter("dead letters")
	defer q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []taskq.DeadLetter{}
	g := q.groups[groupKey{tenant, group}]
	if g == nil {
		return out, nil
	}
	dead := g.dead
	if m := q.limits.QueueMax; m > 0 && len(dead) > m {
		dead = dead[len(dead)-m:]
	}
	if limit > 0 && len(dead) > limit {
		dead = dead[:limit]
	}
	for _, d := range dead {
		d.Body = slices.Clone(d.Body)
		out = append(out, d)
	}
	return out, nil
}

// Close implements taskq.Queue: it drops every task.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.tasks, q.groups, q.finished, q.fhead = map[taskKey]*task{}, map[groupKey]*grp{}, nil, 0
	return nil
}

// Tasks returns the tasks held in memory, finished ones not yet forgotten
// included: what the queue costs.
func (q *Queue) Tasks() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// Groups returns the (tenant, group) pairs held in memory: those with
// unfinished tasks or dead letters.
func (q *Queue) Groups() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.groups)
}

// sweep forgets up to sweepBatch finished tasks whose ResultTTL passed.
// q.mu is held.
func (q *Queue) sweep(now time.Time) {
	for range sweepBatch {
		if q.fhead == len(q.finished) || now.Before(q.finished[q.fhead].at) {
			break
		}
		e := q.finished[q.fhead]
		q.finished[q.fhead] = expiry{}
		q.fhead++
		if t := q.tasks[e.key]; t != nil && t.state.Final() && !now.Before(t.expires) {
			delete(q.tasks, e.key)
		}
	}
	switch {
	case q.fhead == len(q.finished):
		q.finished, q.fhead = q.finished[:0], 0
	case q.fhead >= compactAt && 2*q.fhead >= len(q.finished):
		n := copy(q.finished, q.finished[q.fhead:])
		clear(q.finished[n:])
		q.finished, q.fhead = q.finished[:n], 0
	}
}

// dropIfEmpty forgets a group with nothing left in it. q.mu is held.
func (q *Queue) dropIfEmpty(gk groupKey, g *grp) {
	if g.empty() {
		delete(q.groups, gk)
	}
}
