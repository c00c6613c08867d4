package cron

import (
	"container/heap"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// Errors of Schedule and Cancel.
var (
	ErrClientLimit = errors.New("cron: jobs per client limit reached")
	ErrNodeLimit   = errors.New("cron: jobs per node limit reached")
	ErrNotFound    = errors.New("cron: no such job")
	ErrClosed      = errors.New("cron: scheduler closed")
)

// Result is what a firing came to: arqonbus_cron_firings_total{result}.
type Result = metrics.CronResult

// Reason says why a job ended: arqonbus_cron_cancellations_total{reason}.
type Reason = metrics.CronReason

// Spec is what a client asks for.
type Spec struct {
	Owner, Tenant, Room, Channel string
	Payload                      json.RawMessage
	Delay                        time.Duration // before the first firing
	Interval                     time.Duration // between firings, from the first (fixed rate)
	Repeat                       int           // firings in all, at least 1
}

// Job is a scheduled job. The fields are read-only once scheduled; Fired
// is a snapshot in the copies List returns.
type Job struct {
	Spec
	ID        string
	CreatedAt time.Time
	Fired     int // firings so far

	next  time.Time // when the next firing is due: the heap's key
	index int       // the job's place in the heap, -1 once popped
}

// due is when firing k+1 is due: fixed rate, the k-th firing after the
// first is due at first + k*interval however late the previous one ran.
func (j *Job) due(k int) time.Time {
	return j.CreatedAt.Add(j.Delay).Add(time.Duration(k) * j.Interval)
}

// Options configure a Scheduler.
type Options struct {
	// Fire publishes one firing (iteration counts from 1). It runs on the
	// scheduler's goroutine and must return quickly.
	Fire         func(job Job, iteration int) Result
	Clock        Clock // default RealClock
	MaxPerClient int   // jobs per owner; 0 means no bound
	MaxJobs      int   // jobs per node; 0 means no bound
	Logger       *slog.Logger
	Metrics      *metrics.Metrics
}

// Scheduler runs the jobs of one node.
type Scheduler struct {
	o       Options
	mu      sync.Mutex
	jobs    map[string]*Job
	owners  map[string]int // owner -> jobs
	queue   jobHeap
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// New starts a scheduler; Close stops it.
func New(o Options) *Scheduler {
	if o.Clock == nil {
		o.Clock = RealClock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	s := &Scheduler{o: o, jobs: map[string]*Job{}, owners: map[string]int{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go s.loop()
	return s
}

// NewID returns a job id: cron_ and 12 hex digits from crypto/rand.
func NewID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "cron_" + hex.EncodeToString(b[:])
}

// Schedule adds a job. Bounds of the spec are the caller's to check; the
// limits are checked here.
func (s *Scheduler) Schedule(sp Spec) (Job, error) {
	if sp.Repeat < 1 {
		sp.Repeat = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Job{}, ErrClosed
	}
	if s.o.MaxJobs > 0 && len(s.jobs) >= s.o.MaxJobs {
		return Job{}, ErrNodeLimit
	}
	if s.o.MaxPerClient > 0 && s.owners[sp.Owner] >= s.o.MaxPerClient {
		return Job{}, ErrClientLimit
	}
	now := s.o.Clock.Now()
	j := &Job{Spec: sp, ID: NewID(), CreatedAt: now}
	j.next = j.due(0)
	s.jobs[j.ID] = j
	s.owners[sp.Owner]++
	heap.Push(&s.queue, j)
	s.o.Metrics.CronJobs.Set(float64(len(s.jobs)))
	s.poke()
	return *j, nil
}

// Get returns a job by id.
func (s *Scheduler) Get(id string) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

// List returns the jobs keep(job) selects, by creation time.
func (s *Scheduler) List(keep func(*Job) bool) []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Job
	for _, j := range s.jobs {
		if keep(j) {
			out = append(out, *j)
		}
	}
	sortJobs(out)
	return out
}

// Limits are the jobs per client and per node the scheduler allows (0: no
// bound).
func (s *Scheduler) Limits() (perClient, perNode int) { return s.o.MaxPerClient, s.o.MaxJobs }

// Len is the number of scheduled jobs.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// Cancel ends a job (ownership is the caller's to check).
func (s *Scheduler) Cancel(id string, reason Reason) error {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if ok {
		s.removeLocked(j)
	}
	s.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	s.ended(j, reason)
	return nil
}

// CancelOwner ends every job of owner (its connection closed) and returns
// how many.
func (s *Scheduler) CancelOwner(owner string) int {
	s.mu.Lock()
	var gone []*Job
	if s.owners[owner] > 0 {
		for _, j := range s.jobs {
			if j.Owner == owner {
				gone = append(gone, j)
			}
		}
		for _, j := range gone {
			s.removeLocked(j)
		}
	}
	s.mu.Unlock()
	for _, j := range gone {
		s.ended(j, metrics.CronDisconnect)
	}
	return len(gone)
}

// Close cancels every job (reason shutdown), refuses new ones and waits for
// the scheduler's goroutine, so no firing runs after it returns. It is
// idempotent.
func (s *Scheduler) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		gone := make([]*Job, 0, len(s.jobs))
		for _, j := range s.jobs {
			gone = append(gone, j)
		}
		for _, j := range gone {
			s.removeLocked(j)
		}
		s.mu.Unlock()
		close(s.done)
		<-s.stopped
		sortPtrs(gone)
		for _, j := range gone {
			s.ended(j, metrics.CronShutdown)
		}
	})
}

func (s *Scheduler) removeLocked(j *Job) {
	delete(s.jobs, j.ID)
	if s.owners[j.Owner]--; s.owners[j.Owner] <= 0 {
		delete(s.owners, j.Owner)
	}
	if j.index >= 0 && j.index < len(s.queue) && s.queue[j.index] == j {
		heap.Remove(&s.queue, j.index)
	}
	s.o.Metrics.CronJobs.Set(float64(len(s.jobs)))
	s.poke()
}

// ended logs and counts the end of a job: one line and one count each.
func (s *Scheduler) ended(j *Job, reason Reason) {
	s.o.Metrics.CronCancellations.WithLabelValues(string(reason)).Inc()
	s.o.Logger.Info("cron job ended", "op", "cron", "job_id", j.ID, "owner", j.Owner,
		"tenant", j.Tenant, "reason", string(reason), "firings", j.Fired)
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop is the scheduler's one goroutine: it sleeps until the earliest job
// is due (or the heap changes), fires it and reschedules it. A wake-up that
// leaves the earliest due time as it was keeps the timer already waiting
// for it (wait, due at waitFor) rather than starting another.
func (s *Scheduler) loop() {
	defer close(s.stopped)
	var wait <-chan time.Time
	var waitFor time.Time
	for {
		s.mu.Lock()
		var due *Job
		if len(s.queue) == 0 {
			wait = nil
		} else {
			head := s.queue[0]
			if d := head.next.Sub(s.o.Clock.Now()); d <= 0 {
				due = head
				due.Fired++
			} else if wait == nil || !head.next.Equal(waitFor) {
				wait, waitFor = s.o.Clock.After(d), head.next
			}
		}
		s.mu.Unlock()
		if due != nil {
			s.fire(due)
			continue
		}
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-wait:
			wait = nil
		}
	}
}

func (s *Scheduler) fire(j *Job) {
	s.mu.Lock()
	iteration := j.Fired
	snap := *j
	s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	r := s.o.Fire(snap, iteration)
	s.o.Metrics.CronFirings.WithLabelValues(string(r)).Inc()
	s.mu.Lock()
	if s.jobs[j.ID] != j { // cancelled while it fired
		s.mu.Unlock()
		return
	}
	if iteration >= j.Repeat {
		s.removeLocked(j)
		s.mu.Unlock()
		s.ended(j, metrics.CronCompleted)
		return
	}
	j.next = j.due(iteration)
	heap.Fix(&s.queue, j.index)
	s.mu.Unlock()
}
