//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// The failover run's sizes and bounds.
const (
	failoverTasks      = 1000
	failoverSubmitters = 4                // concurrent op.task.submit streams
	failoverVisibility = 2 * time.Second  // ARQONBUS_TASK_VISIBILITY_TIMEOUT
	failoverPhase      = 30 * time.Second // bound on each phase of the run (seconds when the host is not loaded)
)

func TestTaskQueueFinishesEveryTaskOnceWhenAWorkerAndThenANodeDieMidRun(t *testing.T) {
	t.Parallel()
	// Two nodes share one Redis (a Redis of its own: the binary's key
	// prefix is fixed). Workers w1 and w2 serve on node A, w3 on node B; a
	// client of node A submits 1,000 tasks while they work. Mid-run w1 dies
	// holding a task (its socket is cut, no close frame): that task goes
	// to another worker within a second. Later node B is SIGKILLed while
	// w3 holds a task: w3's connection dies with it, w3 comes back on node
	// A, and its task goes to another worker once its delivery expires.
	// At the end every acknowledged task is done, exactly one completion
	// was recorded for it, the held tasks were delivered more than once,
	// and nothing went to the dead-letter list.
	began := time.Now()
	srv := redistest.RedisWithFaults(t)
	env := redisEnv(srv.URL(), "strict",
		"ARQONBUS_TASK_VISIBILITY_TIMEOUT="+failoverVisibility.String(),
		"ARQONBUS_TASK_POLL_INTERVAL=50ms")
	nodeA, nodeB := testutil.RunBinary(t, env), testutil.RunBinary(t, env)
	const group = "failover"
	w1 := startQueueWorker(t, "w1", nodeA.URL, group)
	w2 := startQueueWorker(t, "w2", nodeA.URL, group)
	w3 := startQueueWorker(t, "w3", nodeB.URL, group)
	workers := []*queueWorker{w1, w2, w3}
	completions := func() int64 {
		var n int64
		for _, w := range workers {
			n += w.completions.Load()
		}
		return n
	}
	waitCompletions := func(n int64, what string) {
		t.Helper()
		testutil.Eventually(t, func() bool { return completions() >= n }, failoverPhase,
			"%d completions before %s (have %d)", n, what, completions())
	}

	submitter := dial(t, nodeA.URL)
	sub := startSubmitting(submitter, group, failoverTasks, failoverSubmitters)
	t.Cleanup(sub.wait)

	waitCompletions(150, "killing w1")
	heldByW1 := w1.holdNext(t, failoverPhase)
	w1.kill()
	w1Killed := time.Since(began)

	waitCompletions(400, "killing node B")
	heldByW3 := w3.holdNext(t, failoverPhase)
	nodeB.Signal(t, syscall.SIGKILL)
	assert.Equal(t, -1, nodeB.Wait(t, failoverPhase), "node B ends by SIGKILL")
	nodeBKilled := time.Since(began)
	w3.waitEnded(t, testutil.Timeout)
	workers = append(workers, startQueueWorker(t, "w3b", nodeA.URL, group))

	sub.wait()
	require.Empty(t, sub.errs, "every submit is acknowledged: Redis is up and node A lives")
	require.Len(t, sub.acked, failoverTasks)

	// Every acknowledged task reaches done; poll the ones not there yet.
	states := map[string]taskState{}
	pending := append([]string(nil), sub.acked...)
	finished := testutil.Poll(failoverPhase, func() bool {
		var still []string
		for _, id := range pending {
			s := getTask(t, submitter, id)
			states[id] = s
			if s.State != "done" {
				still = append(still, id)
			}
		}
		pending = still
		return len(pending) == 0
	})
	require.True(t, finished, "%d acknowledged tasks not done after %s; first: %+v",
		len(pending), failoverPhase, firstStates(states, pending))

	// What the workers saw.
	type seen struct {
		worker  string
		attempt int
	}
	deliveries := map[string][]seen{}
	doneReplies := map[string]int{}
	var delivered, redelivered, late int
	for _, w := range workers {
		w.mu.Lock()
		for _, d := range w.received {
			deliveries[d.taskID] = append(deliveries[d.taskID], seen{w.name, d.attempt})
			delivered++
			if d.attempt > 1 {
				redelivered++
			}
		}
		for id, n := range w.doneReplies {
			doneReplies[id] += n
		}
		for _, n := range w.notFound {
			late += n
		}
		assert.Empty(t, w.other, "worker %s: frames that are neither a task nor the reply to a completion", w.name)
		assert.NoError(t, w.sendErr, "worker %s", w.name)
		w.mu.Unlock()
	}

	acked := map[string]bool{}
	for _, id := range sub.acked {
		acked[id] = true
	}
	for id, n := range doneReplies {
		assert.True(t, acked[id], "a done reply for %s, which was never submitted", id)
		assert.LessOrEqual(t, n, 1, "task %s was recorded done %d times", id, n)
	}
	for id := range deliveries {
		assert.True(t, acked[id], "a delivery of %s, which was never submitted", id)
	}

	var done, multi int
	for _, id := range sub.acked {
		s := states[id]
		if !assert.Equal(t, "done", s.State, "task %s", id) {
			continue
		}
		done++
		assert.Equal(t, group, s.Group, "task %s", id)
		seenIt := deliveries[id]
		require.NotEmpty(t, seenIt, "task %s is done but no worker was delivered it", id)
		assert.GreaterOrEqual(t, s.Attempts, len(seenIt), "task %s: attempts counts every delivery %v", id, seenIt)
		if s.Attempts > 1 {
			multi++
		}
		attempts := map[int]bool{}
		for _, d := range seenIt {
			assert.False(t, attempts[d.attempt], "task %s delivered twice as attempt %d: %v", id, d.attempt, seenIt)
			attempts[d.attempt] = true
			assert.True(t, d.attempt >= 1 && d.attempt <= s.Attempts, "task %s: attempt %d of %d", id, d.attempt, s.Attempts)
		}
		var r workerResult
		if assert.NoError(t, json.Unmarshal(s.Result, &r), "task %s result %s", id, s.Result) {
			assert.Contains(t, seenIt, seen{r.Worker, r.Attempt},
				"task %s: the result names a delivery a worker received", id)
		}
	}
	for name, id := range map[string]string{"w1 (killed)": heldByW1, "w3 (its node killed)": heldByW3} {
		s := states[id]
		assert.Greater(t, s.Attempts, 1, "the task %s held was delivered again: %+v", name, s)
		var r workerResult
		_ = json.Unmarshal(s.Result, &r)
		assert.NotEqual(t, strings.Fields(name)[0], r.Worker, "the task %s held was finished by another worker", name)
		assert.Greater(t, r.Attempt, 1, "the task %s held was finished by a later attempt", name)
	}

	dead := testutil.Command(t, submitter, "op.task.dead", map[string]any{"group": group})
	assert.EqualValues(t, 0, dead["count"], "op.task.dead: %v", dead)
	assert.Empty(t, dead["tasks"], "op.task.dead: %v", dead)

	m := scrape(t, nodeA)
	t.Logf("submitted %d, acknowledged %d, delivered %d (redelivered %d; %d tasks with attempts > 1), done %d, "+
		"late completions refused %d; node A counted redelivered %v; w1 killed at %s, node B at %s, all done at %s",
		sub.submitted, len(sub.acked), delivered, redelivered, multi, done, late,
		m.Get(t, "tasks_redelivered_total"), w1Killed.Round(time.Millisecond), nodeBKilled.Round(time.Millisecond),
		time.Since(began).Round(time.Millisecond))
}

// firstStates returns the states of the first few ids, for a failure
// message.
func firstStates(states map[string]taskState, ids []string) []taskState {
	var out []taskState
	for _, id := range ids[:min(len(ids), 5)] {
		out = append(out, states[id])
	}
	return out
}

// submitRun submits tasks from several goroutines on one client.
type submitRun struct {
	group     string
	c         *client.Client
	wg        sync.WaitGroup
	mu        sync.Mutex
	submitted int
	acked     []string
	errs      []string
}

// startSubmitting submits n tasks {"n":i} to group over streams concurrent
// streams; wait returns once every submit has its answer.
func startSubmitting(c *client.Client, group string, n, streams int) *submitRun {
	s := &submitRun{group: group, c: c}
	s.wg.Add(streams)
	for k := range streams {
		go func() {
			defer s.wg.Done()
			for i := k; i < n; i += streams {
				s.submit(i)
			}
		}()
	}
	return s
}

func (s *submitRun) submit(i int) {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	raw, err := s.c.Command(ctx, "op.task.submit", map[string]any{"group": s.group, "task": map[string]int{"n": i}})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.submitted++
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("task %d: %v", i, err))
		return
	}
	var d struct {
		TaskID string `json:"task_id"`
	}
	if json.Unmarshal(raw, &d) != nil || d.TaskID == "" {
		s.errs = append(s.errs, fmt.Sprintf("task %d: reply data without a task_id: %s", i, raw))
		return
	}
	s.acked = append(s.acked, d.TaskID)
}

// wait waits for every submit's answer. Idempotent.
func (s *submitRun) wait() {
	s.wg.Wait()
	s.mu.Lock()
	sort.Strings(s.acked)
	s.mu.Unlock()
}

// The gate's profiles: every spelling of staging and prod.
var closedProfiles = []string{"prod", "production", "PRODUCTION", " Prod ", "staging", "stage"}

// laneRequest is one request of the work queue's lane.
type laneRequest struct {
	name string
	env  func() *protocol.Envelope
}

// laneRequests are one request of each kind the gate closes.
var laneRequests = []laneRequest{
	{"operator.join", func() *protocol.Envelope {
		return &protocol.Envelope{Type: protocol.TypeOperatorJoin, Payload: protocol.Object(map[string]string{"group": "g"})}
	}},
	{"op.task.submit", laneCommand("op.task.submit", map[string]any{"group": "g", "task": map[string]int{"n": 1}})},
	{"op.task.get", laneCommand("op.task.get", map[string]any{"task_id": "task_0123456789abcdef0123456789abcdef"})},
	{"op.task.dead", laneCommand("op.task.dead", map[string]any{"group": "g"})},
	{"op.worker.leave", laneCommand("op.worker.leave", map[string]any{"group": "g"})},
	{"truth.verify", laneCommand("truth.verify", map[string]any{"claim": "the sky is blue"})},
}

func laneCommand(name string, args map[string]any) func() *protocol.Envelope {
	return func() *protocol.Envelope {
		return &protocol.Envelope{Type: protocol.TypeCommand, Command: name, Args: protocol.Object(args)}
	}
}

func TestTaskQueueLaneIsClosedInEveryStagingAndProdSpellingUntilTheFlagOpensIt(t *testing.T) {
	t.Parallel()
	// A prod (or staging) binary without ARQONBUS_ENABLE_PROTOTYPE_RSI
	// answers every request of the lane with FEATURE_DISABLED naming the
	// flag, before looking at the caller's role: a guest, a user and an
	// admin all get it, and the connection stays good for other commands.
	for _, profile := range closedProfiles {
		t.Run(fmt.Sprintf("%q", profile), func(t *testing.T) {
			t.Parallel()
			p := testutil.RunBinary(t, strictProd("0", "ARQONBUS_ENVIRONMENT="+profile))
			for _, role := range []string{"guest", "user", "admin"} {
				c := dialToken(t, p.URL, testutil.Token(t, secret, testutil.Claims("sam", "acme", role)))
				for _, lr := range laneRequests {
					r := testutil.Request(t, c, lr.env())
					err := protocol.AsWire(client.ReplyError(r))
					assert.Equal(t, protocol.CodeFeatureDisabled, err.Code, "%s as %s: %s", lr.name, role, protocol.Encode(r))
					assert.Contains(t, err.Message, "ARQONBUS_ENABLE_PROTOTYPE_RSI=true", "%s as %s says how to open the lane", lr.name, role)
				}
				assert.Equal(t, true, testutil.Command(t, c, "ping", nil)["pong"], "the connection is alive as %s", role)
			}
		})
	}

	t.Run("opened with the flag in production", func(t *testing.T) {
		t.Parallel()
		// With the flag, an operator token joins, a user token submits,
		// the task reaches the operator and its completion is readable by
		// the submitter; a user token cannot join.
		p := testutil.RunBinary(t, strictProd("0", "ARQONBUS_ENVIRONMENT=production", "ARQONBUS_ENABLE_PROTOTYPE_RSI=true"))
		worker := dialToken(t, p.URL, testutil.Token(t, secret, testutil.Claims("ops", "acme", "operator")))
		user := dialToken(t, p.URL, testutil.Token(t, secret, testutil.Claims("alice", "acme", "user")))

		r := testutil.JoinWorkers(t, user, "gate")
		assert.Equal(t, protocol.CodeAuthorization, protocol.AsWire(client.ReplyError(r)).Code,
			"a user cannot register a worker: %s", protocol.Encode(r))
		testutil.MustJoinWorkers(t, worker, "gate")

		id := testutil.SubmitTask(t, user, "gate", map[string]any{"q": "2+2"})
		task := testutil.Expect(t, worker)
		require.Equal(t, protocol.TypeCommand, task.Type, "delivery: %s", protocol.Encode(task))
		assert.Equal(t, taskDeliveryCommand, task.Command)
		assert.Equal(t, id, task.ID)
		assert.JSONEq(t, `{"q":"2+2"}`, string(task.Payload))
		assert.JSONEq(t, `{"group":"gate","attempt":1}`, string(task.Metadata))
		testutil.ExpectNone(t, user, quiet) // the submitter is not a worker

		ack := testutil.Request(t, worker, &protocol.Envelope{ID: "r1", Type: protocol.TypeResponse, RequestID: id,
			Status: protocol.StatusSuccess, Payload: json.RawMessage(`{"answer":4}`)})
		require.Equal(t, protocol.TypeMessageResponse, ack.Type, "completion reply: %s", protocol.Encode(ack))
		assert.Equal(t, map[string]any{"task_id": id, "state": "done"}, testutil.Payload(t, ack))

		s := getTask(t, user, id)
		assert.Equal(t, "done", s.State)
		assert.Equal(t, 1, s.Attempts)
		assert.JSONEq(t, `{"answer":4}`, string(s.Result))
	})
}
