package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// The tasks workload loads the work queue (SPEC §11.1) through one node:
// workers join a group with operator.join and answer every task they are
// handed; submitters send op.task.submit commands whose task object is a
// bench payload (payload.go) carrying the planned submit time, in
// nanoseconds since the run's common start, and the task's sequence number.
// Frame ids name the sequence number too ("s<seq>" for a submit, "c<seq>"
// for a completion), so every reply finds its task by index: no map, no
// lock.

// taskFlags registers the tasks workload's flags.
func taskFlags(fs *flag.FlagSet, c *options) {
	fs.IntVar(&c.clients, "workers", 8, "worker connections joined to the group")
	fs.IntVar(&c.submitters, "submitters", 4, "submitter connections")
	fs.Int64Var(&c.tasks, "tasks", 20000, "tasks to submit in all")
	c.rate = 1000
	fs.Var(taskRateFlag{c}, "rate", "tasks per second in all, open-loop (a number), or max: closed-loop, each submitter keeping --inflight submits unanswered")
	fs.IntVar(&c.inflight, "inflight", 1, "with --rate max: submits one submitter keeps unanswered")
	fs.StringVar(&c.group, "group", "", "worker group (default: the run's arqonbench-<random>, fresh per run)")
	durationVar(fs, &c.work, "work", 0, "simulated work per task: a worker answers this `time` after the delivery")
	durationVar(fs, &c.drain, "drain", 10*time.Second, "`time` to wait for replies and completions after the last submit (closed loop: also the longest wait for one reply)")
	fs.IntVar(&c.payload, "payload", 64, "task object size in bytes (at least the size of its fields, ~40)")
}

// taskRateFlag is --rate of the tasks workload: a number, or max.
type taskRateFlag struct{ c *options }

func (f taskRateFlag) String() string {
	if f.c == nil {
		return ""
	}
	if f.c.closedLoop {
		return "max"
	}
	return strconv.FormatFloat(f.c.rate, 'g', -1, 64)
}

func (f taskRateFlag) Set(s string) error {
	if s == "max" {
		f.c.closedLoop = true
		return nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number of tasks per second or max: %q", s)
	}
	f.c.rate, f.c.closedLoop = r, false
	return nil
}

// maxTasks bounds --tasks: the run keeps about 60 bytes per task.
const maxTasks = 10_000_000

func (c *options) validateTasks(bad func(format string, args ...any)) {
	if c.submitters < 1 {
		bad("--submitters must be at least 1")
	}
	if c.tasks < 1 || c.tasks > maxTasks {
		bad("--tasks must be within 1..%d", maxTasks)
	}
	if !c.closedLoop && (!(c.rate > 0) || c.rate > 1e7) {
		bad("--rate must be max or within (0, 1e7]")
	}
	if c.inflight < 1 || c.inflight > 10000 {
		bad("--inflight must be within 1..10000")
	}
	if c.work < 0 {
		bad("--work must not be negative")
	}
	if c.drain <= 0 {
		bad("--drain must be positive")
	}
	if c.payload < 0 || c.payload > maxPayload {
		bad("--payload must be within 0..%d", maxPayload)
	}
	if c.group != "" && !validGroup(c.group) {
		bad("--group must be 1-128 characters of [A-Za-z0-9_.:-]")
	}
}

// validGroup is the server's rule for a worker group name.
func validGroup(g string) bool {
	if len(g) < 1 || len(g) > 128 {
		return false
	}
	for _, r := range g {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("_.:-", r)
		if !ok {
			return false
		}
	}
	return true
}

// tasksResult holds the tasks numbers. Its JSON names differ from the
// other workloads' (result embeds them all).
type tasksResult struct {
	Workers      int     `json:"workers"`
	Submitters   int     `json:"submitters"`
	Group        string  `json:"group"`
	TaskRate     float64 `json:"task_rate"` // tasks/s in all, open loop; 0: closed loop
	ClosedLoop   bool    `json:"closed_loop"`
	Inflight     int     `json:"inflight,omitempty"` // closed loop, per submitter
	WorkMs       float64 `json:"work_ms"`
	TaskBytes    int     `json:"task_bytes"`
	TasksPlanned int64   `json:"tasks_planned"`
	// Counts of distinct tasks (by sequence number).
	TasksSubmitted    int64 `json:"tasks_submitted"`    // written to the socket
	TasksAcknowledged int64 `json:"tasks_acknowledged"` // answered with a task id
	TasksRejected     int64 `json:"tasks_rejected"`     // answered with an error
	SubmitsUnanswered int64 `json:"submits_unanswered"` // no reply by the deadline
	TasksDelivered    int64 `json:"tasks_delivered"`    // reached a worker
	TasksCompleted    int64 `json:"tasks_completed"`    // completion acknowledged (done)
	// TasksLost counts acknowledged tasks not completed by the deadline;
	// TasksUndelivered the part of them no worker ever saw.
	TasksLost        int64 `json:"tasks_lost"`
	TasksUndelivered int64 `json:"tasks_undelivered"`
	// Redeliveries counts deliveries of a task a worker had already been
	// handed; IDMismatches tasks whose delivered id is not the one the
	// submit was answered with.
	Redeliveries    int64 `json:"redeliveries"`
	IDMismatches    int64 `json:"id_mismatches"`
	RespondFailures int64 `json:"respond_failures"` // completions a worker could not write
	OtherTaskFrames int64 `json:"task_other_frames"`
	// TaskErrors counts error replies by side and code:
	// "submit:LIMIT_EXCEEDED", "complete:NOT_FOUND".
	TaskErrors map[string]int64 `json:"task_errors,omitempty"`
	// TasksPerS is completions per second over the steady window: from
	// the 10th to the 90th percentile of completion times (all of them
	// under 20 completions).
	TasksPerS float64 `json:"tasks_per_s"`
	SteadyS   float64 `json:"steady_s"`
	// Completions per worker, fewest and most: how evenly tasks spread.
	WorkerMin int64 `json:"worker_tasks_min"`
	WorkerMax int64 `json:"worker_tasks_max"`
	// Latencies from the submit time carried in the task (open loop: its
	// planned time) to the submit's reply, to the first delivery at a
	// worker, and to the server's acknowledgement of the completion.
	ToAck    *latencySummary `json:"submit_to_ack_ms,omitempty"`
	ToWorker *latencySummary `json:"submit_to_worker_ms,omitempty"`
	ToDone   *latencySummary `json:"submit_to_done_ms,omitempty"`
	// SubmitLag is how late open-loop submits left (the tool's own delay).
	SubmitLag *latencySummary `json:"submit_lag_ms,omitempty"`
	// Server is the change of the server's work-queue counters (given
	// --metrics-url).
	Server *taskCounts `json:"server_task_counters,omitempty"`
}

// Task states, bits of taskLog.state.
const (
	taskSent uint32 = 1 << iota
	taskAcked
	taskRejected
	taskDelivered
	taskCompleted
)

// taskLog is what the run knows of each task, indexed by sequence number.
// Each entry's state bits are set atomically, so every event is counted
// once whichever connection's reader sees it; ackID and deliveredID are
// written by one reader each (the bit guards them) and read only after
// every connection has closed.
type taskLog struct {
	base        atomic.Pointer[time.Time] // the common start: task times are ns since it
	sentAt      []atomic.Int64            // the submit time carried in the task
	state       []atomic.Uint32
	ackID       []string
	deliveredID []string
	doneAt      []int64 // completion acknowledged, ns since base

	toAck, toWorker, toDone, lag histogram

	replies, acked, completed atomic.Int64 // progress, watched by the drain

	errMu  sync.Mutex
	errs   map[string]int64
	other  atomic.Int64
	redo   atomic.Int64
	failed atomic.Int64 // completion writes that failed
}

func newTaskLog(n int64) *taskLog {
	return &taskLog{
		sentAt: make([]atomic.Int64, n), state: make([]atomic.Uint32, n),
		ackID: make([]string, n), deliveredID: make([]string, n), doneAt: make([]int64, n),
		errs: map[string]int64{},
	}
}

// since is the time since base, in ns.
func (l *taskLog) since() int64 { return int64(time.Since(*l.base.Load())) }

// mark sets bit on task seq and reports whether it was clear; false also
// for a sequence number outside the plan.
func (l *taskLog) mark(seq int64, bit uint32) bool {
	if seq < 0 || seq >= int64(len(l.state)) {
		return false
	}
	return l.state[seq].Or(bit)&bit == 0
}

func (l *taskLog) countError(side, code string) {
	if code == "" {
		code = "unknown"
	}
	l.errMu.Lock()
	l.errs[side+":"+code]++
	l.errMu.Unlock()
}

// taskFrame is the part of a server frame the workload reads.
type taskFrame struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	RequestID string          `json:"request_id"`
	Command   string          `json:"command"`
	Status    string          `json:"status"`
	ErrorCode string          `json:"error_code"`
	Payload   json.RawMessage `json:"payload"`
	Metadata  struct {
		Attempt int `json:"attempt"`
	} `json:"metadata"`
}

func (f *taskFrame) failed() bool {
	return f.Type == protocol.TypeError || f.Status == protocol.StatusError
}

// frameSeq reads the sequence number from a frame id made of prefix and
// the number ("s42"); -1 when id is not one.
func frameSeq(id string, prefix byte) int64 {
	if len(id) < 2 || id[0] != prefix {
		return -1
	}
	n, err := strconv.ParseInt(id[1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// submitter is one submitting connection's reply handler. In the closed
// loop every reply returns a token to the sender.
type submitter struct {
	log    *taskLog
	tokens chan struct{} // nil in the open loop
}

func (s *submitter) onFrame(data []byte) {
	now := s.log.since()
	var f taskFrame
	if json.Unmarshal(data, &f) != nil {
		s.log.other.Add(1)
		return
	}
	seq := frameSeq(f.RequestID, 's')
	if f.Type != protocol.TypeResponse && f.Type != protocol.TypeError || seq < 0 || seq >= int64(len(s.log.state)) {
		s.log.other.Add(1)
		return
	}
	if f.failed() {
		if s.log.mark(seq, taskRejected) {
			s.log.countError("submit", f.ErrorCode)
			s.replied()
		}
		return
	}
	var body struct {
		Data struct {
			TaskID string `json:"task_id"`
		} `json:"data"`
	}
	if json.Unmarshal(f.Payload, &body) != nil || body.Data.TaskID == "" {
		s.log.other.Add(1)
		return
	}
	if !s.log.mark(seq, taskAcked) {
		s.log.other.Add(1) // a second reply to one submit
		return
	}
	s.log.ackID[seq] = body.Data.TaskID
	s.log.toAck.Record(time.Duration(now - s.log.sentAt[seq].Load()))
	s.log.acked.Add(1)
	s.replied()
}

func (s *submitter) replied() {
	s.log.replies.Add(1)
	if s.tokens != nil {
		select {
		case s.tokens <- struct{}{}:
		default: // the sender has stopped; nobody takes tokens any more
		}
	}
}

// submitFrame builds op.task.submit for task seq of the group.
func submitFrame(dst, args []byte, seq int64, group string, task []byte) ([]byte, []byte) {
	args = append(args[:0], `{"group":`...)
	args = protocol.AppendString(args, group)
	args = append(args, `,"task":`...)
	args = append(args, task...)
	args = append(args, '}')
	dst = protocol.AppendEnvelope(dst[:0], &protocol.Envelope{
		ID: "s" + strconv.FormatInt(seq, 10), Type: protocol.TypeCommand, Command: "op.task.submit", Args: args,
	})
	return dst, args
}

// worker is one worker connection: it answers each task --work after its
// delivery, on the reader goroutine when there is no work to simulate.
type worker struct {
	log     *taskLog
	work    time.Duration
	c       atomic.Pointer[client.Client]
	pending *sync.WaitGroup // answers waiting for their simulated work
	done    int64           // completions acknowledged; read after close
}

func (w *worker) onFrame(data []byte) {
	now := w.log.since()
	var f taskFrame
	if json.Unmarshal(data, &f) != nil {
		w.log.other.Add(1)
		return
	}
	switch {
	case f.Type == protocol.TypeCommand && f.Command == protocol.CommandTask:
		w.deliver(now, &f)
	case f.Type == protocol.TypeMessageResponse:
		seq := frameSeq(f.ID, 'c')
		var body struct {
			State string `json:"state"`
		}
		if json.Unmarshal(f.Payload, &body) != nil || body.State != "done" || !w.log.mark(seq, taskCompleted) {
			w.log.other.Add(1)
			return
		}
		w.log.doneAt[seq] = now
		w.log.toDone.Record(time.Duration(now - w.log.sentAt[seq].Load()))
		w.log.completed.Add(1)
		w.done++
	case f.failed() && frameSeq(f.RequestID, 'c') >= 0:
		w.log.countError("complete", f.ErrorCode)
	default:
		w.log.other.Add(1)
	}
}

func (w *worker) deliver(now int64, f *taskFrame) {
	ts, seq, ok := parsePayload(f.Payload)
	if !ok || seq >= int64(len(w.log.state)) {
		w.log.other.Add(1)
		return
	}
	if w.log.mark(seq, taskDelivered) {
		w.log.deliveredID[seq] = f.ID
		w.log.toWorker.Record(time.Duration(now - ts))
	} else {
		w.log.redo.Add(1)
	}
	frame := protocol.AppendEnvelope(nil, &protocol.Envelope{
		ID: "c" + strconv.FormatInt(seq, 10), Type: protocol.TypeResponse, RequestID: f.ID,
		Status: protocol.StatusSuccess, Payload: json.RawMessage(`{"ok":true}`),
	})
	if w.work <= 0 {
		w.respond(frame)
		return
	}
	w.pending.Add(1)
	time.AfterFunc(w.work, func() {
		defer w.pending.Done()
		w.respond(frame)
	})
}

func (w *worker) respond(frame []byte) {
	if err := w.c.Load().SendRaw(websocket.TextMessage, frame); err != nil {
		w.log.failed.Add(1)
	}
}

// joinGroup registers c as a worker of group, bounded by ctx and
// dialTimeout.
func joinGroup(ctx context.Context, c *client.Client, group string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	payload := protocol.AppendString([]byte(`{"group":`), group)
	r, err := c.Request(ctx, &protocol.Envelope{Type: protocol.TypeOperatorJoin, Payload: append(payload, '}')})
	if err == nil {
		err = client.ReplyError(r)
	}
	if err != nil {
		return fmt.Errorf("operator.join %s: %w", group, err)
	}
	return nil
}

// runTasks sets up the workers and submitters, submits the plan, waits for
// the replies and completions (bounded by the drain time) and fills res.
func runTasks(ctx context.Context, b *bench, res *result) error {
	cfg := b.cfg
	group := cfg.group
	if group == "" {
		group = b.room
	}
	tr := &tasksResult{
		Workers: cfg.clients, Submitters: cfg.submitters, Group: group, ClosedLoop: cfg.closedLoop,
		WorkMs: ms(cfg.work), TaskBytes: cfg.payload, TasksPlanned: cfg.tasks,
	}
	if cfg.closedLoop {
		tr.Inflight = cfg.inflight
	} else {
		tr.TaskRate = cfg.rate
	}
	res.tasksResult = tr
	if err := b.probe(ctx); err != nil {
		return err
	}

	log := newTaskLog(cfg.tasks)
	var pending sync.WaitGroup
	workers := make([]*worker, cfg.clients)
	for i := range workers {
		workers[i] = &worker{log: log, work: cfg.work, pending: &pending}
	}
	subs := make([]*submitter, cfg.submitters)
	for j := range subs {
		subs[j] = &submitter{log: log}
		if cfg.closedLoop {
			subs[j].tokens = make(chan struct{}, cfg.inflight)
			for range cfg.inflight {
				subs[j].tokens <- struct{}{}
			}
		}
	}

	setupStart := time.Now()
	setupCtx, cancelSetup := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancelSetup()
	wconns, err := connectAll(setupCtx, b.d, len(workers), cfg.concurrency,
		func(i int) func([]byte) { return workers[i].onFrame },
		func(ctx context.Context, i int, c *client.Client) error {
			workers[i].c.Store(c)
			return joinGroup(ctx, c, group)
		})
	var sconns []*client.Client
	if err == nil {
		sconns, err = connectAll(setupCtx, b.d, len(subs), cfg.concurrency,
			func(j int) func([]byte) { return subs[j].onFrame }, nil)
	}
	res.Connections = opened(wconns) + opened(sconns)
	res.ConnectS = round3(time.Since(setupStart).Seconds())
	closed := false
	closeConns := func() {
		if !closed {
			closed = true
			closeAll(append(wconns, sconns...), 1000)
			pending.Wait() // answers in flight fail fast on closed connections
		}
	}
	defer closeConns()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	var before samples
	if cfg.metricsURL != "" {
		var serr error
		if before, serr = scrape(ctx, cfg.metricsURL); serr != nil {
			res.note("server metrics: %v", serr)
		}
	}

	base := time.Now().Add(startLead)
	log.base.Store(&base)
	var next atomic.Int64 // closed loop: the next sequence number to submit
	sendErrs := make([]error, len(sconns))
	var wg sync.WaitGroup
	for j, c := range sconns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.closedLoop {
				sendErrs[j] = submitClosed(ctx, c, subs[j], log, &next, group, cfg)
			} else {
				sendErrs[j] = submitOpen(ctx, c, j, log, group, cfg)
			}
		}()
	}
	submitting := make(chan struct{})
	go func() { wg.Wait(); close(submitting) }()
	_ = realClock{}.Sleep(ctx, time.Until(base))
	cpuStart := sampleCPU(cfg.serverPID)
	select {
	case <-submitting:
	case <-ctx.Done():
		<-submitting // every sender watches ctx
	}
	var sent int64
	for i := range log.state {
		if log.state[i].Load()&taskSent != 0 {
			sent++
		}
	}
	// Drain: every submit answered and every acknowledged task completed,
	// or the drain time is over.
	drainCtx, cancelDrain := context.WithTimeout(ctx, cfg.drain)
	defer cancelDrain()
	for (log.replies.Load() < sent || log.completed.Load() < log.acked.Load()) && drainCtx.Err() == nil {
		_ = realClock{}.Sleep(drainCtx, 2*time.Millisecond)
	}
	interrupted := ctx.Err() != nil
	b.recordCPU(res, cpuStart, sampleCPU(cfg.serverPID))

	res.Disconnects = map[string]int{}
	disconnects(wconns, "worker:", res.Disconnects)
	disconnects(sconns, "submitter:", res.Disconnects)
	if before != nil && !interrupted {
		after, err := scrape(ctx, cfg.metricsURL)
		if err == nil {
			tr.Server, err = taskCounterDeltas(before, after)
		}
		if err != nil {
			res.note("server metrics: %v", err)
		}
	}
	closeConns() // after this the log is quiet and may be read

	tr.tally(log, workers)
	for j, err := range sendErrs {
		if err != nil && !errors.Is(err, context.Canceled) {
			res.note("submitter %d stopped: %v", j, err)
		}
	}
	if tr.TasksLost > 0 && !interrupted {
		res.note("%d acknowledged tasks not completed %s after the last submit (%d never delivered)",
			tr.TasksLost, cfg.drain, tr.TasksUndelivered)
	}
	if interrupted {
		return errors.New("interrupted")
	}
	return nil
}

// tally reads the log once every connection has closed.
func (tr *tasksResult) tally(log *taskLog, workers []*worker) {
	var done []int64
	for i := range log.state {
		st := log.state[i].Load()
		has := func(bit uint32) bool { return st&bit != 0 }
		count := func(n *int64, bit uint32) {
			if has(bit) {
				*n++
			}
		}
		count(&tr.TasksSubmitted, taskSent)
		count(&tr.TasksAcknowledged, taskAcked)
		count(&tr.TasksRejected, taskRejected)
		count(&tr.TasksDelivered, taskDelivered)
		count(&tr.TasksCompleted, taskCompleted)
		if has(taskSent) && !has(taskAcked) && !has(taskRejected) {
			tr.SubmitsUnanswered++
		}
		if has(taskAcked) && !has(taskCompleted) {
			tr.TasksLost++
			if !has(taskDelivered) {
				tr.TasksUndelivered++
			}
		}
		if has(taskAcked) && has(taskDelivered) && log.ackID[i] != log.deliveredID[i] {
			tr.IDMismatches++
		}
		if has(taskCompleted) {
			done = append(done, log.doneAt[i])
		}
	}
	tr.Redeliveries, tr.RespondFailures, tr.OtherTaskFrames = log.redo.Load(), log.failed.Load(), log.other.Load()
	if len(log.errs) > 0 {
		tr.TaskErrors = log.errs
	}
	tr.TasksPerS, tr.SteadyS = steadyRate(done)
	for i, w := range workers {
		if i == 0 || w.done < tr.WorkerMin {
			tr.WorkerMin = w.done
		}
		tr.WorkerMax = max(tr.WorkerMax, w.done)
	}
	tr.ToAck, tr.ToWorker, tr.ToDone = log.toAck.summary(), log.toWorker.summary(), log.toDone.summary()
	tr.SubmitLag = log.lag.summary()
}

// steadyRate is the completion rate over the steady window of the given
// completion times (ns since the start): between the 10th and the 90th
// percentile, or from the start to the last one when there are fewer than
// 20. It returns tasks/s and the window in seconds.
func steadyRate(done []int64) (perS, windowS float64) {
	n := len(done)
	if n == 0 {
		return 0, 0
	}
	slices.Sort(done)
	lo, hi, count := int64(0), done[n-1], n
	if n >= 20 {
		i0, i1 := n/10, n-1-n/10
		lo, hi, count = done[i0], done[i1], i1-i0
	}
	w := time.Duration(max(hi-lo, 1)).Seconds()
	return round1(float64(count) / w), round3(w)
}

// submitOpen sends submitter j's share of the plan (every task whose
// sequence number is j modulo the submitters) at its planned time.
func submitOpen(ctx context.Context, c *client.Client, j int, log *taskLog, group string, cfg *options) error {
	m := int64(cfg.submitters)
	n := (cfg.tasks - int64(j) + m - 1) / m
	base := *log.base.Load()
	s := schedule{start: base.Add(time.Duration(float64(j) * float64(time.Second) / cfg.rate)), rate: cfg.rate / float64(m)}
	var task, args, frame []byte
	recordLag := func(_ int64, late time.Duration) { log.lag.Record(late) }
	_, err := pace(ctx, s, n, realClock{}, recordLag, func(i int64, planned time.Time) error {
		seq := int64(j) + i*m
		ts := int64(planned.Sub(base))
		return sendTask(c, log, seq, ts, group, cfg.payload, &task, &args, &frame)
	})
	return err
}

// submitClosed sends tasks as long as there are some left, each once one
// of the submitter's tokens is back: at most --inflight unanswered. A
// token that does not come back within the drain time ends the loop.
func submitClosed(ctx context.Context, c *client.Client, s *submitter, log *taskLog, next *atomic.Int64,
	group string, cfg *options) error {
	if err := (realClock{}).Sleep(ctx, time.Until(*log.base.Load())); err != nil {
		return err
	}
	var task, args, frame []byte
	for {
		t := time.NewTimer(cfg.drain)
		select {
		case <-s.tokens:
			t.Stop()
		case <-t.C:
			return fmt.Errorf("no reply within %s", cfg.drain)
		case <-c.Done():
			t.Stop()
			return client.ErrClosed
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		seq := next.Add(1) - 1
		if seq >= cfg.tasks {
			return nil
		}
		if err := sendTask(c, log, seq, log.since(), group, cfg.payload, &task, &args, &frame); err != nil {
			return err
		}
	}
}

// sendTask submits task seq with submit time ts (ns since base), reusing
// the caller's buffers.
func sendTask(c *client.Client, log *taskLog, seq, ts int64, group string, size int, task, args, frame *[]byte) error {
	*task = appendPayload((*task)[:0], ts, seq, size)
	*frame, *args = submitFrame(*frame, *args, seq, group, *task)
	log.sentAt[seq].Store(ts)
	if err := c.SendRaw(websocket.TextMessage, *frame); err != nil {
		return fmt.Errorf("submit task %d: %w", seq, err)
	}
	log.mark(seq, taskSent)
	return nil
}

// The server's work-queue counters a tasks run reports the change of.
const (
	metricTasksSubmitted   = "arqonbus_tasks_submitted_total"
	metricTasksDelivered   = "arqonbus_tasks_delivered_total"
	metricTasksRedelivered = "arqonbus_tasks_redelivered_total"
	metricTasksCompleted   = "arqonbus_tasks_completed_total"
	metricTasksDead        = "arqonbus_tasks_dead_total"
	metricTaskFailures     = "arqonbus_task_queue_failures_total"
)

// taskCounts is the change of the server's work-queue counters over a
// tasks run: what the server says it stored, handed over and finished, to
// set beside what the workers counted.
type taskCounts struct {
	Submitted     int64            `json:"submitted"`
	Delivered     int64            `json:"delivered"`
	Redelivered   int64            `json:"redelivered"`
	Completed     map[string]int64 `json:"completed,omitempty"` // by status, those that moved
	Dead          int64            `json:"dead"`
	QueueFailures map[string]int64 `json:"queue_failures,omitempty"` // by op, those that moved
}

// taskCounterDeltas compares two scrapes of the server.
func taskCounterDeltas(before, after samples) (*taskCounts, error) {
	for _, name := range []string{metricTasksSubmitted, metricTasksDelivered} {
		if !after.has(name) {
			return nil, fmt.Errorf("the server exposes no %s", name)
		}
	}
	delta := func(name string) int64 { return int64(math.Round(after.sum(name) - before.sum(name))) }
	byLabel := func(name, label string) map[string]int64 {
		was := before.by(name, label)
		var out map[string]int64
		for k, v := range after.by(name, label) {
			if d := int64(math.Round(v - was[k])); d != 0 {
				if out == nil {
					out = map[string]int64{}
				}
				out[k] = d
			}
		}
		return out
	}
	return &taskCounts{
		Submitted: delta(metricTasksSubmitted), Delivered: delta(metricTasksDelivered),
		Redelivered: delta(metricTasksRedelivered), Dead: delta(metricTasksDead),
		Completed:     byLabel(metricTasksCompleted, "status"),
		QueueFailures: byLabel(metricTaskFailures, "op"),
	}, nil
}

// writeTasksSummary prints the human form of a tasks run.
func writeTasksSummary(p func(format string, args ...any), t *tasksResult) {
	mode := fmt.Sprintf("open loop at %g tasks/s", t.TaskRate)
	if t.ClosedLoop {
		mode = fmt.Sprintf("closed loop, %d unanswered per submitter", t.Inflight)
	}
	p("  tasks: %d worker(s) in group %s, %d submitter(s), %s, %d-byte tasks, %g ms work each",
		t.Workers, t.Group, t.Submitters, mode, t.TaskBytes, t.WorkMs)
	p("  submitted %d of %d planned; acknowledged %d, rejected %d, unanswered %d",
		t.TasksSubmitted, t.TasksPlanned, t.TasksAcknowledged, t.TasksRejected, t.SubmitsUnanswered)
	p("  delivered %d, completed %d: %s tasks/s over %.2f s steady; lost %d (%d never delivered), redeliveries %d, id mismatches %d",
		t.TasksDelivered, t.TasksCompleted, thousands(t.TasksPerS), t.SteadyS, t.TasksLost, t.TasksUndelivered,
		t.Redeliveries, t.IDMismatches)
	p("  completions per worker %d..%d; completion write failures %d, other frames %d",
		t.WorkerMin, t.WorkerMax, t.RespondFailures, t.OtherTaskFrames)
	if len(t.TaskErrors) > 0 {
		p("  error replies:%s", byReason(t.TaskErrors))
	}
	for _, l := range []struct {
		name string
		s    *latencySummary
	}{{"submit->ack", t.ToAck}, {"submit->worker", t.ToWorker}, {"submit->done", t.ToDone}} {
		if l.s != nil {
			p("  %s ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f", l.name, l.s.P50, l.s.P90, l.s.P99, l.s.Max, l.s.Mean)
		}
	}
	if l := t.SubmitLag; l != nil {
		p("  submit lag ms: p50 %.3f  p99 %.3f  max %.3f", l.P50, l.P99, l.Max)
	}
	if c := t.Server; c != nil {
		var completed, failures int64
		for _, n := range c.Completed {
			completed += n
		}
		for _, n := range c.QueueFailures {
			failures += n
		}
		p("  server counters (all of the run): submitted %d, delivered %d, redelivered %d, completed %d%s, dead %d, queue failures %d%s",
			c.Submitted, c.Delivered, c.Redelivered, completed, byReason(c.Completed), c.Dead, failures, byReason(c.QueueFailures))
	}
}
