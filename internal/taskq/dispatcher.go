package taskq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// Worker is a connection serving a group, as the dispatcher sees it.
type Worker interface {
	// ID names the worker across every node (the client id); it is the
	// consumer name in the Queue.
	ID() string
	// Tenant is the worker's tenant (from its handshake).
	Tenant() string
	// Deliver hands t over as an op.task command frame; false when the
	// connection is gone or its send queue refused the frame (the
	// dispatcher then releases t). It must not block.
	Deliver(t Task) bool
}

// Clock is the dispatcher's time source; tests pass a fake.
type Clock interface {
	Now() time.Time
	// After delivers the time on the channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Options configure a Dispatcher.
type Options struct {
	Queue Queue
	// Prefetch bounds the unfinished tasks one worker holds (default 1).
	Prefetch int
	// Visibility is Limits.Visibility of Queue: a delivery not completed
	// in it no longer counts against its worker's Prefetch, and the
	// worker's late answer is ErrNotHeld.
	Visibility time.Duration
	// PollInterval is how often workers with room ask Queue for tasks the
	// dispatcher was not told about (submitted on another node, expired
	// or released elsewhere). Default 100ms.
	PollInterval time.Duration
	// MaxGroupsPerWorker bounds the groups one worker joins (0: no bound).
	MaxGroupsPerWorker int
	// CallTimeout bounds each Queue call the dispatcher's loop makes
	// (default 2s).
	CallTimeout time.Duration
	Clock       Clock // default the wall clock
	Logger      *slog.Logger
	Metrics     *metrics.Metrics
}

// Defaults of the Options left zero. The node's values come from config;
// these only make a bare Options usable.
const (
	defaultPrefetch     = 1
	defaultPollInterval = 100 * time.Millisecond // between polls of the Queue
	defaultCallTimeout  = 2 * time.Second        // per Queue call made in the background
)

// groupKey names a group: groups of different tenants never mix.
type groupKey struct{ tenant, group string }

// membership is one worker in one group: the deliveries it holds there.
// Its fields are guarded by Dispatcher.mu; w, key and id never change.
type membership struct {
	w        Worker
	id       string // w.ID()
	key      groupKey
	inflight map[string]time.Time // task id -> delivery time + Visibility
	left     bool                 // removed: what a claim in flight brings back is released
}

// ring is a group's local memberships in round-robin order; next is where
// the next pass starts asking.
type ring struct {
	members []*membership
	next    int
}

// Dispatcher is one node's half of the work queue.
//
// One goroutine (the loop) claims tasks for local workers with room and
// delivers them; the methods run on the callers' goroutines. All state is
// under mu, which is never held across a Queue call or Worker.Deliver.
type Dispatcher struct {
	o Options

	mu      sync.Mutex
	workers map[string]map[string]*membership // worker id -> group -> membership
	rings   map[groupKey]*ring
	regs    int // (worker, group) registrations
	started bool
	closed  bool
	cancel  context.CancelFunc // ends the loop and its Queue calls

	wake     chan struct{} // buffered(1): something changed, run a pass
	stopped  chan struct{} // closed when the loop returns
	stopOnce sync.Once

	// Test instrumentation: passes begun and finished by the loop, wake-ups
	// sent and taken, and whether the loop waits in its select.
	passStarted, passEnded atomic.Uint64
	pokes, wakes           atomic.Uint64
	waiting                atomic.Bool
}

// NewDispatcher returns a dispatcher; Start runs its loop, Stop ends it.
// Queue and a positive Visibility are required (it panics without them:
// the node's config guarantees both).
func NewDispatcher(o Options) *Dispatcher {
	if o.Queue == nil {
		panic("taskq: NewDispatcher without a Queue")
	}
	if o.Visibility <= 0 {
		panic("taskq: NewDispatcher needs a positive Visibility")
	}
	if o.Prefetch <= 0 {
		o.Prefetch = defaultPrefetch
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = defaultCallTimeout
	}
	if o.Clock == nil {
		o.Clock = RealClock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	return &Dispatcher{
		o:       o,
		workers: map[string]map[string]*membership{},
		rings:   map[groupKey]*ring{},
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
}

// Start runs the claim loop in a goroutine. Calling it again, or after
// Stop, does nothing.
func (d *Dispatcher) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.loop(ctx)
}

// Join registers w as a worker of group in w's tenant (idempotent: joining
// a group twice is one registration) and wakes the loop.
// ErrGroupLimit when w already joined MaxGroupsPerWorker other groups;
// ErrClosed after Stop.
func (d *Dispatcher) Join(w Worker, group string) error {
	id, tenant := w.ID(), w.Tenant()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	groups := d.workers[id]
	if _, ok := groups[group]; ok {
		return nil
	}
	if limit := d.o.MaxGroupsPerWorker; limit > 0 && len(groups) >= limit {
		return fmt.Errorf("join %s: %w (%d groups)", group, ErrGroupLimit, limit)
	}
	if groups == nil {
		groups = map[string]*membership{}
		d.workers[id] = groups
	}
	key := groupKey{tenant, group}
	m := &membership{w: w, id: id, key: key, inflight: map[string]time.Time{}}
	groups[group] = m
	r := d.rings[key]
	if r == nil {
		r = &ring{}
		d.rings[key] = r
	}
	r.members = append(r.members, m)
	d.regs++
	d.o.Metrics.TaskWorkers.Inc()
	d.poke()
	return nil
}

// Leave ends w's membership of group: the tasks it holds in the group are
// released (Queue.Release) so other workers get them at once. It reports
// whether the worker was in the group; the error is the release's (logged
// and counted too), the membership is gone either way.
func (d *Dispatcher) Leave(ctx context.Context, workerID, group string) (bool, error) {
	d.mu.Lock()
	m, ids := d.removeLocked(workerID, group)
	d.mu.Unlock()
	if m == nil {
		return false, nil
	}
	d.o.Metrics.TaskWorkers.Dec()
	err := d.release(ctx, m, ids, "leave")
	d.poke()
	return true, err
}

// LeaveAll ends every membership of the worker (its connection closed),
// releasing what it holds; failures are logged and counted, not returned.
// Each release is bounded by CallTimeout.
func (d *Dispatcher) LeaveAll(workerID string) { d.leaveAll(workerID, "disconnect") }

// leaveAll is LeaveAll; it returns the memberships it ended.
func (d *Dispatcher) leaveAll(workerID, why string) int {
	type gone struct {
		m   *membership
		ids []string
	}
	d.mu.Lock()
	var all []gone
	for group := range d.workers[workerID] {
		m, ids := d.removeLocked(workerID, group)
		all = append(all, gone{m, ids})
	}
	d.mu.Unlock()
	for _, g := range all {
		d.o.Metrics.TaskWorkers.Dec()
		ctx, cancel := context.WithTimeout(context.Background(), d.o.CallTimeout)
		_ = d.release(ctx, g.m, g.ids, why) // logged and counted by release
		cancel()
	}
	if len(all) > 0 {
		d.poke()
	}
	return len(all)
}

// removeLocked ends a membership and returns it with the ids it held
// (nil when there was none). d.mu is held.
func (d *Dispatcher) removeLocked(workerID, group string) (*membership, []string) {
	groups := d.workers[workerID]
	m := groups[group]
	if m == nil {
		return nil, nil
	}
	delete(groups, group)
	if len(groups) == 0 {
		delete(d.workers, workerID)
	}
	if r := d.rings[m.key]; r != nil {
		if i := slices.Index(r.members, m); i >= 0 {
			r.members = slices.Delete(r.members, i, i+1)
			if i < r.next {
				r.next--
			}
		}
		if len(r.members) == 0 {
			delete(d.rings, m.key)
		} else {
			r.next %= len(r.members)
		}
	}
	m.left = true
	d.regs--
	ids := make([]string, 0, len(m.inflight))
	for id := range m.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	clear(m.inflight)
	return m, ids
}

// release gives back the tasks m's worker holds in m's group. It is
// called even with no ids: the backend then forgets the worker. A failure
// is logged and counted (the tasks come back after Visibility anyway).
func (d *Dispatcher) release(ctx context.Context, m *membership, ids []string, why string) error {
	err := d.o.Queue.Release(ctx, m.key.tenant, m.key.group, m.id, ids)
	if err == nil {
		return nil
	}
	d.queueFailed(metrics.TaskOpRelease)
	d.o.Logger.Warn("task release failed", "op", "task.release", "worker", m.id,
		"tenant", m.key.tenant, "group", m.key.group, "tasks", len(ids), "why", why, "err", err)
	return fmt.Errorf("release %d tasks of %s in %s: %w", len(ids), m.id, m.key.group, err)
}

// Groups returns the groups the worker joined, sorted.
func (d *Dispatcher) Groups(workerID string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.workers[workerID]))
	for g := range d.workers[workerID] {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// Submit stores a task (Queue.Submit with a NewID) and wakes the loop so a
// local worker with room gets it at once; it returns the task id once the
// task is stored, and counts it in tasks_submitted_total. The Queue's
// error comes back as it was (ErrQueueFull, ErrUnavailable...); ErrClosed
// after Stop.
func (d *Dispatcher) Submit(ctx context.Context, tenant, group string, body []byte) (string, error) {
	if d.isClosed() {
		return "", ErrClosed
	}
	id := NewID()
	if err := d.o.Queue.Submit(ctx, tenant, group, id, body); err != nil {
		if !errors.Is(err, ErrQueueFull) {
			d.queueFailed(metrics.TaskOpSubmit)
			d.o.Logger.Warn("task submit failed", "op", "task.submit", "tenant", tenant,
				"group", group, "task_id", id, "err", err)
		}
		return "", err
	}
	d.o.Metrics.TasksSubmitted.Inc()
	d.poke()
	return id, nil
}

// Complete records the answer of worker workerID for task id (ok: success;
// result: its payload as sent) when the worker holds it, frees the
// worker's slot, wakes the loop, and returns the final state. ErrNotHeld
// when it does not hold it (the result is not recorded); a delivery whose
// Visibility passed is not held any more. When the Queue fails otherwise
// the worker keeps the task (it may answer again before its deadline) and
// the error is returned; ErrClosed after Stop.
func (d *Dispatcher) Complete(ctx context.Context, workerID, id string, ok bool, result []byte) (State, error) {
	now := d.o.Clock.Now()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return "", ErrClosed
	}
	var m *membership
	for _, g := range d.workers[workerID] {
		if deadline, held := g.inflight[id]; held && now.Before(deadline) {
			m = g
			break
		}
	}
	d.mu.Unlock()
	if m == nil {
		return "", fmt.Errorf("complete %s by %s: %w", id, workerID, ErrNotHeld)
	}
	st, err := d.o.Queue.Complete(ctx, m.key.tenant, m.key.group, workerID, id, ok, result)
	switch {
	case err == nil:
		d.forget(m, id)
		status := metrics.TaskFailed
		if st == StateDone {
			status = metrics.TaskDone
		}
		d.o.Metrics.TasksCompleted.WithLabelValues(string(status)).Inc()
		d.poke()
		return st, nil
	case errors.Is(err, ErrNotHeld):
		d.forget(m, id)
		d.poke()
		return "", err
	default:
		d.queueFailed(metrics.TaskOpComplete)
		d.o.Logger.Warn("task complete failed", "op", "task.complete", "worker", workerID,
			"tenant", m.key.tenant, "group", m.key.group, "task_id", id, "err", err)
		return "", err
	}
}

// forget drops id from m's deliveries; it reports whether it was there.
func (d *Dispatcher) forget(m *membership, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, held := m.inflight[id]
	delete(m.inflight, id)
	return held
}

// Get reads a task of tenant (Queue.Get). Failures other than ErrNotFound
// are logged and counted.
func (d *Dispatcher) Get(ctx context.Context, tenant, id string) (Info, error) {
	info, err := d.o.Queue.Get(ctx, tenant, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		d.queueFailed(metrics.TaskOpGet)
		d.o.Logger.Warn("task get failed", "op", "task.get", "tenant", tenant, "task_id", id, "err", err)
	}
	return info, err
}

// DeadLetters reads a group's dead-letter list (Queue.DeadLetters).
// Failures other than ErrNotFound are logged and counted.
func (d *Dispatcher) DeadLetters(ctx context.Context, tenant, group string, limit int) ([]DeadLetter, error) {
	dl, err := d.o.Queue.DeadLetters(ctx, tenant, group, limit)
	if err != nil && !errors.Is(err, ErrNotFound) {
		d.queueFailed(metrics.TaskOpGet)
		d.o.Logger.Warn("task dead letters read failed", "op", "task.dead_letters", "tenant", tenant,
			"group", group, "err", err)
	}
	return dl, err
}

// Workers returns the number of (worker, group) registrations.
func (d *Dispatcher) Workers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.regs
}

// Stop ends the loop once every worker has left (the node calls it after
// closing connections), releases what workers still hold, logs
// "task dispatcher stopped", and closes nothing else: the Queue is the
// caller's. It is idempotent. Join, Submit and Complete fail with
// ErrClosed from its start; no delivery happens after it returns.
func (d *Dispatcher) Stop() {
	d.stopOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		started, cancel := d.started, d.cancel
		ids := make([]string, 0, len(d.workers))
		for id := range d.workers {
			ids = append(ids, id)
		}
		d.mu.Unlock()
		if started {
			cancel()
			<-d.stopped
		}
		slices.Sort(ids)
		ended := 0
		for _, id := range ids {
			ended += d.leaveAll(id, "shutdown")
		}
		d.o.Logger.Info("task dispatcher stopped", "op", "task.stop", "workers", len(ids),
			"memberships", ended)
	})
}

func (d *Dispatcher) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// poke wakes the loop without blocking: one pending wake-up is enough.
func (d *Dispatcher) poke() {
	d.pokes.Add(1) // counted first: a reader never sees a sent wake-up uncounted
	select {
	case d.wake <- struct{}{}:
	default:
		d.pokes.Add(^uint64(0))
	}
}

// loop is the dispatcher's one goroutine: a pass on every wake-up and
// every PollInterval. The poll timer is armed once and kept across
// wake-ups, so a busy node still polls at its interval and an idle one
// holds one timer.
func (d *Dispatcher) loop(ctx context.Context) {
	defer close(d.stopped)
	var tick <-chan time.Time
	for {
		d.pass(ctx)
		if tick == nil {
			tick = d.o.Clock.After(d.o.PollInterval)
		}
		d.waiting.Store(true)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			d.waiting.Store(false)
			d.wakes.Add(1)
		case <-tick:
			d.waiting.Store(false)
			tick = nil
		}
	}
}

// pass drops expired deliveries, then claims for every group with a
// member that has room, member after member from the group's round-robin
// cursor, until a Claim comes back short (the group's queue is empty) or
// fails.
func (d *Dispatcher) pass(ctx context.Context) {
	d.passStarted.Add(1)
	defer d.passEnded.Add(1)
	now := d.o.Clock.Now()
	d.mu.Lock()
	for _, groups := range d.workers {
		for _, m := range groups {
			for id, deadline := range m.inflight {
				if !now.Before(deadline) {
					delete(m.inflight, id) // the Queue may hand it to anyone now
				}
			}
		}
	}
	var plans [][]*membership
	for _, r := range d.rings {
		var order []*membership
		for i := range r.members {
			m := r.members[(r.next+i)%len(r.members)]
			if len(m.inflight) < d.o.Prefetch {
				order = append(order, m)
			}
		}
		if len(order) > 0 {
			plans = append(plans, order)
		}
	}
	d.mu.Unlock()
	for _, order := range plans {
		if ctx.Err() != nil {
			return
		}
		d.claimGroup(ctx, order)
	}
}

// claimGroup claims for the members of one group in order.
func (d *Dispatcher) claimGroup(ctx context.Context, order []*membership) {
	for _, m := range order {
		d.mu.Lock()
		room := 0
		if !m.left {
			room = d.o.Prefetch - len(m.inflight)
		}
		d.mu.Unlock()
		if room <= 0 {
			continue
		}
		if full := d.claim(ctx, m, room); !full {
			return
		}
	}
}

// claim asks the Queue for up to n tasks for m and delivers them; it
// reports whether it got all n (false on a failure: the group waits for
// the next pass).
func (d *Dispatcher) claim(ctx context.Context, m *membership, n int) bool {
	cctx, cancel := context.WithTimeout(ctx, d.o.CallTimeout)
	c, err := d.o.Queue.Claim(cctx, m.key.tenant, m.key.group, m.id, n)
	cancel()
	d.retired(m.key, c)
	if err != nil {
		if ctx.Err() != nil {
			return false // stopping: the call was cancelled, not failed
		}
		d.queueFailed(metrics.TaskOpClaim)
		d.o.Logger.Warn("task claim failed", "op", "task.claim", "tenant", m.key.tenant,
			"group", m.key.group, "worker", m.id, "err", err)
	}
	d.deliver(m, c.Tasks)
	return err == nil && len(c.Tasks) >= n
}

// deliver records tasks as m's and hands them to its worker. Tasks
// claimed for a membership that ended meanwhile, or after Stop began, and
// tasks the worker refuses, are released at once.
func (d *Dispatcher) deliver(m *membership, tasks []Task) {
	if len(tasks) == 0 {
		return
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	deadline := d.o.Clock.Now().Add(d.o.Visibility)
	d.mu.Lock()
	gone := m.left || d.closed
	if !gone {
		for _, id := range ids {
			m.inflight[id] = deadline
		}
		if r := d.rings[m.key]; r != nil {
			if i := slices.Index(r.members, m); i >= 0 {
				r.next = (i + 1) % len(r.members)
			}
		}
	}
	d.mu.Unlock()
	if gone {
		d.releaseNow(m, ids, "left while claiming")
		return
	}
	var refused []string
	for _, t := range tasks {
		if m.w.Deliver(t) {
			d.o.Metrics.TasksDelivered.Inc()
			if t.Attempt > 1 {
				d.o.Metrics.TasksRedelivered.Inc()
			}
			continue
		}
		d.o.Logger.Warn("task delivery refused", "op", "task.deliver", "worker", m.id,
			"tenant", m.key.tenant, "group", m.key.group, "task_id", t.ID, "attempt", t.Attempt)
		if d.forget(m, t.ID) { // else Leave already released it
			refused = append(refused, t.ID)
		}
	}
	if len(refused) > 0 {
		d.releaseNow(m, refused, "delivery refused")
	}
}

// releaseNow releases ids of m with a fresh context bounded by
// CallTimeout (it runs while stopping too).
func (d *Dispatcher) releaseNow(m *membership, ids []string, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), d.o.CallTimeout)
	defer cancel()
	_ = d.release(ctx, m, ids, why) // logged and counted by release
}

// retired logs and counts what a Claim moved to the dead-letter list.
func (d *Dispatcher) retired(key groupKey, c Claimed) {
	for _, dl := range c.Dead {
		d.o.Metrics.TasksDead.Inc()
		d.o.Logger.Warn("task dead", "op", "task.claim", "tenant", key.tenant, "group", key.group,
			"task_id", dl.TaskID, "attempts", dl.Attempts, "reason", dl.Reason)
	}
	for _, bad := range c.Corrupt {
		if bad.Err != nil {
			d.queueFailed(metrics.TaskOpDead)
			d.o.Logger.Error("task entry did not decode", "op", "task.claim", "tenant", key.tenant,
				"group", key.group, "stream", bad.Stream, "entry_id", bad.EntryID, "reason", bad.Reason,
				"err", bad.Err)
			continue
		}
		d.o.Metrics.TaskDecodeFailures.Inc()
		d.o.Metrics.TasksDead.Inc()
		d.o.Logger.Error("task entry did not decode", "op", "task.claim", "tenant", key.tenant,
			"group", key.group, "stream", bad.Stream, "entry_id", bad.EntryID, "reason", bad.Reason)
	}
}

// queueFailed counts a failed Queue call of op (the caller logs it).
func (d *Dispatcher) queueFailed(op metrics.TaskOp) {
	d.o.Metrics.TaskQueueFailures.WithLabelValues(string(op)).Inc()
}
