//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestRedisTaskQueueMeetsTheTaskContractOnRealRedis runs the work queue's
// contract suite (SPEC §11.1) on a real Redis: the scripts' XREADGROUP and
// XAUTOCLAIM, the consumer group made on first use, the claims and releases
// of pending entries. Each queue has a key prefix of its own on the shared
// Redis. Redis measures the idle time of pending entries itself, so time
// moves by waiting.
func TestRedisTaskQueueMeetsTheTaskContractOnRealRedis(t *testing.T) {
	t.Parallel()
	taskqtest.Run(t, func(t *testing.T, lim taskq.Limits) taskqtest.Harness {
		srv := redistest.Redis(t)
		q, err := redisq.New(redisq.Options{Client: redistest.RedisClient(t, srv), Prefix: srv.Prefix(t), Limits: lim})
		require.NoError(t, err)
		return taskqtest.Harness{Queue: q, Advance: func(d time.Duration) { time.Sleep(d) }}
	})
}

// TestCorruptTaskEntriesAreDeadLetteredOnceAndNeverDelivered: entries that
// are not tasks of this queue reach a group's stream (written by hand, as
// a foreign producer or a damaged copy would): one without the task
// fields, one naming a task that has no record, one whose body is not an
// object. A node with a joined worker meets each once: it logs it with the
// stream and the entry id, counts it as a decode failure and a dead task,
// and moves it to the dead-letter list (op.task.dead shows it with reason
// "decode" and its entry id). The worker never sees one, yet is alive: the
// real task submitted after them is delivered. Nothing loops: several poll
// intervals later the counters have not moved, nothing is pending and the
// stream holds none of them.
func TestCorruptTaskEntriesAreDeadLetteredOnceAndNeverDelivered(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	s := taskNode(t, srv, nil)
	rc := redistest.RedisClient(t, srv)
	group := uniq("corrupt")
	w := dialTaskWorker(t, s)
	testutil.MustJoinWorkers(t, w.Client, group)
	sub := testutil.Dial(t, s)

	// A real task first: the stream and its consumer group exist, and the
	// worker works.
	first := testutil.SubmitTask(t, sub, group, map[string]any{"n": 1})
	require.Equal(t, first, w.next(t, testutil.Timeout).ID)
	testutil.CompleteTask(t, w.Client, first)
	stream := taskStreamKey(t, rc, group)

	ctx := testutil.Ctx(t)
	corrupt := []map[string]any{
		{"foo": "bar"},
		{"task_id": taskq.NewID(), "body": `{"n":2}`},
		{"task_id": taskq.NewID(), "body": `[1,2]`},
	}
	entries := make([]string, len(corrupt))
	for i, fields := range corrupt {
		id, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: fields}).Result()
		require.NoError(t, err)
		entries[i] = id
	}

	// Each is dead-lettered; then a real task reaches the worker.
	testutil.Eventually(t, func() bool { return s.Counter(t, "task_decode_failures_total") >= 3 },
		testutil.Timeout, "three decode failures counted")
	second := testutil.SubmitTask(t, sub, group, map[string]any{"n": 3})
	d := w.next(t, testutil.Timeout)
	require.Equal(t, second, d.ID, "the worker gets the real task, not a corrupt entry")
	assert.JSONEq(t, `{"n":3}`, string(d.Payload))
	testutil.CompleteTask(t, w.Client, second)

	// Several poll intervals later (a wait for nothing to happen, so a
	// fixed one): nothing was met again, and the dispatcher was polling all
	// along (a task submitted now still arrives).
	time.Sleep(10 * s.Config.TaskPollInterval)
	w.Quiet(t)
	third := testutil.SubmitTask(t, sub, group, map[string]any{"n": 4})
	require.Equal(t, third, w.next(t, testutil.Timeout).ID, "the dispatcher still hands tasks over")
	testutil.CompleteTask(t, w.Client, third)
	assert.Equal(t, 3.0, s.Counter(t, "task_decode_failures_total"), "each corrupt entry counted once")
	assert.Equal(t, 3.0, s.Counter(t, "tasks_dead_total"), "each corrupt entry is one dead task")
	assert.Equal(t, 3.0, s.Counter(t, "tasks_delivered_total"), "only the real tasks were delivered")
	logs := s.Logs.String()
	for _, e := range entries {
		lines := logLines(logs, `msg="task entry did not decode"`, "entry_id="+e)
		if assert.Len(t, lines, 1, "entry %s logged once", e) {
			assert.Contains(t, lines[0], stream, "the log line names the stream")
		}
	}

	pending, err := rc.XPending(ctx, stream, "workers").Result()
	require.NoError(t, err)
	assert.Zero(t, pending.Count, "nothing is pending: %+v", pending)
	n, err := rc.XLen(ctx, stream).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the stream holds no corrupt entry (and no finished task)")

	dead := testutil.Command(t, sub, "op.task.dead", map[string]any{"group": group})
	assert.Equal(t, 3.0, dead["count"])
	tasks, _ := dead["tasks"].([]any)
	var deadEntries []string
	for _, it := range tasks {
		dl, _ := it.(map[string]any)
		assert.Equal(t, "decode", dl["reason"], "dead letter %v", dl)
		assert.NotEmpty(t, dl["raw"], "the entry's fields are kept: %v", dl)
		e, _ := dl["entry_id"].(string)
		deadEntries = append(deadEntries, e)
	}
	assert.ElementsMatch(t, entries, deadEntries, "op.task.dead names every corrupt entry")
}

// TestTasksFlowingThroughAPausedRedisAreEachDoneOnceAndNoneIsLost: one
// node, two workers that complete every task they are handed, and a
// submitter sending 300 tasks while Redis is paused (SIGSTOP) in the
// middle. A submit answered with a task id is stored; one answered
// STORAGE_UNAVAILABLE was not. A worker whose answer gets
// STORAGE_UNAVAILABLE answers again until it gets done or NOT_FOUND (a
// task no longer held: its delivery expired, or its first answer was
// stored although the reply timed out). After Redis resumes the node
// recovers without a restart and everything drains: every stored task is
// done (op.task.get), no task was acknowledged done twice, no refused
// submit reached a worker, and the failures during the pause were counted.
func TestTasksFlowingThroughAPausedRedisAreEachDoneOnceAndNoneIsLost(t *testing.T) {
	t.Parallel()
	const total = 300
	srv := redistest.RedisWithFaults(t)
	s := taskNode(t, srv, func(c *config.Config) {
		c.TaskVisibilityTimeout = 2 * time.Second
	})
	group := uniq("paused")
	workers := []*autoWorker{startAutoWorker(t, s, group), startAutoWorker(t, s, group)}
	sub := testutil.Dial(t, s)

	stored := map[string]int{} // task id -> the submit's n
	var refused []int          // n of submits answered STORAGE_UNAVAILABLE
	paused := false
	start := time.Now()
	for n := range total {
		if n == total/3 {
			srv.Pause(t)
			paused = true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		data, err := sub.Command(ctx, "op.task.submit", map[string]any{"group": group, "task": map[string]any{"n": n}})
		cancel()
		var we *protocol.Error
		switch {
		case err == nil:
			var r struct {
				TaskID string `json:"task_id"`
			}
			require.NoError(t, json.Unmarshal(data, &r))
			require.True(t, taskq.ValidID(r.TaskID), "submit %d answered %s", n, data)
			stored[r.TaskID] = n
		case errors.As(err, &we) && we.Code == protocol.CodeStorageUnavailable:
			require.True(t, paused, "submit %d refused while Redis answers: %v", n, err)
			refused = append(refused, n)
			if len(refused) == 5 { // the pause has been felt: resume
				srv.Unpause(t)
				paused = false
			}
		default:
			t.Fatalf("submit %d: %v", n, err)
		}
	}
	require.False(t, paused, "the pause refused some submits (refused: %v)", refused)

	submittedAt := time.Now()
	// Everything drains: each stored task is done.
	var last string
	testutil.Eventually(t, func() bool {
		for id := range stored {
			if st, _ := taskState(t, sub, id); st != "done" {
				last = id + " is " + st
				return false
			}
		}
		return true
	}, 30*time.Second, "every stored task done (last: %s)", lazy(func() string { return last }))
	t.Logf("submits took %s; drained %s after", time.Since(start).Round(time.Millisecond), time.Since(submittedAt).Round(time.Millisecond))
	for _, w := range workers {
		w.Stop()
	}

	done := map[string]int{}
	delivered := map[string]int{}
	retries, notFound := 0, 0
	for _, w := range workers {
		assert.Empty(t, w.unexpect, "worker %s saw unexpected replies", w.ID())
		for id, k := range w.done {
			done[id] += k
		}
		for _, d := range w.got {
			delivered[d.ID]++
			var body struct{ N int }
			require.NoError(t, json.Unmarshal(d.Payload, &body))
			n, ok := stored[d.ID]
			assert.True(t, ok, "task %s (submit %d) was delivered but its submit was answered STORAGE_UNAVAILABLE: "+
				"the submit reached Redis before the pause and ran when it resumed, after the node had given up on it", d.ID, body.N)
			if ok {
				assert.Equal(t, n, body.N, "task %s carries its own body", d.ID)
			}
		}
		retries += w.retries
		notFound += len(w.notFound)
	}
	for id, k := range done {
		assert.Equal(t, 1, k, "task %s acknowledged done once", id)
	}
	for id := range stored {
		assert.Positive(t, delivered[id], "stored task %s was delivered", id)
	}
	assert.Len(t, stored, total-len(refused))
	failures := s.Counter(t, "task_queue_failures_total", "submit") + s.Counter(t, "task_queue_failures_total", "claim") +
		s.Counter(t, "task_queue_failures_total", "complete")
	assert.GreaterOrEqual(t, s.Counter(t, "task_queue_failures_total", "submit"), float64(len(refused)), "each refused submit counted")
	assert.NotEmpty(t, logLines(s.Logs.String(), `msg="task submit failed"`), "the refused submits are logged")
	t.Logf("paused Redis: %d submitted, %d stored, %d refused, %d acknowledged done, %d deliveries, %d answers repeated, %d NOT_FOUND, %.0f queue failures, %.0f redelivered",
		total, len(stored), len(refused), len(done), sumCounts(delivered), retries, notFound, failures, s.Counter(t, "tasks_redelivered_total"))
	livez(t, s)
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, k := range m {
		n += k
	}
	return n
}

// TestATaskCrossesNodesAndGoesBackWhenItsWorkerDisconnects: two nodes on
// one Redis share the queue. A task submitted on node A reaches the only
// worker, on node B, within about B's poll interval (B was not told of the
// submit, it finds it by polling). That worker disconnects while holding
// it: B releases it, and a worker on A gets it as attempt 2, well before
// the visibility timeout, and completes it; the submitter on A reads it
// done after two attempts.
func TestATaskCrossesNodesAndGoesBackWhenItsWorkerDisconnects(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	a, b := taskNode(t, srv, nil), taskNode(t, srv, nil)
	require.Equal(t, 30*time.Second, a.Config.TaskVisibilityTimeout, "the default visibility timeout, far beyond the waits below")
	group := uniq("cross")
	onB := dialTaskWorker(t, b)
	testutil.MustJoinWorkers(t, onB.Client, group)
	sub := testutil.Dial(t, a)

	submitted := time.Now()
	id := testutil.SubmitTask(t, sub, group, map[string]any{"n": 1})
	d := onB.next(t, testutil.Timeout)
	took := time.Since(submitted)
	require.Equal(t, id, d.ID)
	assert.Equal(t, 1, d.Metadata.Attempt)
	assert.Equal(t, group, d.Metadata.Group)
	assert.Less(t, took, b.Config.TaskPollInterval+500*time.Millisecond, "node B finds the task within about its poll interval")

	onA := dialTaskWorker(t, a)
	testutil.MustJoinWorkers(t, onA.Client, group)
	require.NoError(t, onB.Close())
	left := time.Now()
	d = onA.next(t, testutil.Timeout)
	require.Equal(t, id, d.ID)
	assert.Equal(t, 2, d.Metadata.Attempt, "the second delivery is attempt 2")
	assert.Less(t, time.Since(left), 1500*time.Millisecond, "a disconnected worker's task moves on within a second or so")
	testutil.CompleteTask(t, onA.Client, id)
	onA.Quiet(t)

	st, attempts := taskState(t, sub, id)
	assert.Equal(t, "done", st)
	assert.Equal(t, 2, attempts)
	assert.Equal(t, 1.0, b.Counter(t, "tasks_delivered_total"))
	assert.Equal(t, 1.0, a.Counter(t, "tasks_redelivered_total"))
	t.Logf("submit on A to delivery on B: %s", took.Round(time.Millisecond))
}
