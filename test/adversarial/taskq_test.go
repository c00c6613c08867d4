package adversarial

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The work queue's timing in the tests that let deliveries expire: the
// shortest visibility configuration accepts and a quick poll, so a
// redelivery takes a fraction of a second.
const (
	taskVisibility = 200 * time.Millisecond
	taskPoll       = 20 * time.Millisecond
)

// taskServer starts a dev node (the lane is open) with no rate limit, a
// tolerant violation count, a quick poll of the queue and cfg applied.
func taskServer(t *testing.T, cfg ...func(*config.Config)) *testutil.Server {
	t.Helper()
	base := []func(*config.Config){unlimited, tolerant, func(c *config.Config) { c.TaskPollInterval = taskPoll }}
	return start(t, append(base, cfg...)...)
}

// taskAuth turns HS256 authentication on with tokenSecret.
func taskAuth(c *config.Config) {
	c.EnableAuth, c.AuthJWTSecret, c.AuthJWTAlgorithms = true, tokenSecret, []string{"HS256"}
}

// dialAs connects with a token for subject in tenant with role.
func dialAs(t *testing.T, s *testutil.Server, subject, tenant, role string) *client.Client {
	t.Helper()
	return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, tokenSecret, testutil.Claims(subject, tenant, role))})
}

// joinWith sends an operator.join whose payload is raw and returns its one
// reply.
func joinWith(t *testing.T, c *client.Client, payload string) *protocol.Envelope {
	t.Helper()
	return testutil.Request(t, c, &protocol.Envelope{Type: protocol.TypeOperatorJoin, Payload: json.RawMessage(payload)})
}

// nextTask returns the next frame c receives within wait and requires it to
// be a task delivery.
func nextTask(t *testing.T, c *client.Client, wait time.Duration) *protocol.Envelope {
	t.Helper()
	env, err := c.RecvTimeout(wait)
	require.NoError(t, err, "worker %s: a task delivery within %s", c.ID(), wait)
	require.Equal(t, protocol.TypeCommand, env.Type, "a task delivery: %s", protocol.Encode(env))
	require.Equal(t, "op.task", env.Command, "a task delivery: %s", protocol.Encode(env))
	return env
}

// attemptOf is a delivery's metadata.attempt.
func attemptOf(t *testing.T, d *protocol.Envelope) int {
	t.Helper()
	var m struct{ Attempt int }
	require.NoError(t, json.Unmarshal(d.Metadata, &m), "metadata %s", d.Metadata)
	return m.Attempt
}

// requireNotHeld requires a completion's reply to be the NOT_FOUND error.
func requireNotHeld(t *testing.T, r *protocol.Envelope, what string) {
	t.Helper()
	require.Equal(t, protocol.TypeError, r.Type, "%s: %s", what, protocol.Encode(r))
	require.Equal(t, string(protocol.CodeNotFound), r.ErrorCode, "%s: %s", what, protocol.Encode(r))
	assertNoInternals(t, r, what)
}

// completed is tasks_completed_total over both statuses.
func completed(t *testing.T, s *testutil.Server) float64 {
	t.Helper()
	return s.Counter(t, "tasks_completed_total", "done") + s.Counter(t, "tasks_completed_total", "failed")
}

// TestTaskAnswersFromAWorkerThatDoesNotHoldTheTaskAreNotFound: a worker
// answering tasks it was never handed (ids of the right form made up,
// another worker's task, another tenant's task), with either status, gets
// NOT_FOUND each time; nothing is recorded, the rightful holders still
// hold their tasks, and the impostor's connection keeps working.
func TestTaskAnswersFromAWorkerThatDoesNotHoldTheTaskAreNotFound(t *testing.T) {
	s := taskServer(t, taskAuth)
	acme := dialAs(t, s, "submitter", "acme", "user")
	holder, impostor := dialAs(t, s, "w1", "acme", "operator"), dialAs(t, s, "w2", "acme", "operator")
	globex, globexWorker := dialAs(t, s, "submitter", "globex", "user"), dialAs(t, s, "w1", "globex", "operator")

	testutil.MustJoinWorkers(t, holder, "jobs")
	mine := testutil.SubmitTask(t, acme, "jobs", map[string]any{"n": 1})
	d := nextTask(t, holder, testutil.Timeout)
	require.Equal(t, mine, d.ID)
	require.Equal(t, 1, attemptOf(t, d))
	testutil.MustJoinWorkers(t, impostor, "jobs") // the holder is full (prefetch 1): nothing for the impostor yet
	testutil.MustJoinWorkers(t, globexWorker, "jobs")
	theirs := testutil.SubmitTask(t, globex, "jobs", map[string]any{"n": 2})
	require.Equal(t, theirs, nextTask(t, globexWorker, testutil.Timeout).ID)

	before := completed(t, s)
	forged := []string{taskq.NewID(), taskq.NewID(), "task_" + strings.Repeat("0", 32), "task_" + strings.Repeat("f", 32)}
	for _, status := range []string{protocol.StatusSuccess, protocol.StatusError} {
		for _, id := range forged {
			requireNotHeld(t, testutil.AnswerTask(t, impostor, id, status, `{"forged":true}`), "a made-up id "+id)
		}
		requireNotHeld(t, testutil.AnswerTask(t, impostor, mine, status, `{"stolen":true}`), "another worker's task")
		requireNotHeld(t, testutil.AnswerTask(t, impostor, theirs, status, `{"stolen":true}`), "another tenant's task")
		requireNotHeld(t, testutil.AnswerTask(t, globexWorker, mine, status, `{"stolen":true}`), "another tenant's task, same group name")
		requireNotHeld(t, testutil.AnswerTask(t, holder, theirs, status, `{"stolen":true}`), "another tenant's task, by a holder of its own")
		requireNotHeld(t, testutil.AnswerTask(t, acme, mine, status, `{"stolen":true}`), "a task answered by a connection that is no worker")
	}
	assert.InDelta(t, before, completed(t, s), 0, "no forged answer was counted as a completion")

	got := testutil.TaskInfo(t, acme, mine)
	assert.Equal(t, "running", got["state"], "the holder's task is still running: %v", got)
	assert.Equal(t, 1.0, got["attempts"])
	assert.NotContains(t, got, "result", "no forged result was recorded")
	got = testutil.TaskInfo(t, globex, theirs)
	assert.Equal(t, "running", got["state"], "the other tenant's task is still running: %v", got)
	assert.NotContains(t, got, "result")

	// The impostor is still a working worker: it gets and finishes a task.
	assertStillOpen(t, impostor)
	next := testutil.SubmitTask(t, acme, "jobs", map[string]any{"n": 3})
	require.Equal(t, next, nextTask(t, impostor, testutil.Timeout).ID)
	testutil.RequireTaskAck(t, testutil.AnswerTask(t, impostor, next, protocol.StatusSuccess, `{"by":"w2"}`), next, "done")

	// The rightful holders were never disturbed.
	testutil.RequireTaskAck(t, testutil.AnswerTask(t, holder, mine, protocol.StatusSuccess, `{"by":"w1"}`), mine, "done")
	testutil.RequireTaskAck(t, testutil.AnswerTask(t, globexWorker, theirs, protocol.StatusError, `{"by":"globex"}`), theirs, "failed")
	got = testutil.TaskInfo(t, acme, mine)
	assert.Equal(t, "done", got["state"])
	assert.Equal(t, map[string]any{"by": "w1"}, got["result"], "the holder's result, never a forged one")
	got = testutil.TaskInfo(t, globex, theirs)
	assert.Equal(t, "failed", got["state"])
	assert.Equal(t, map[string]any{"by": "globex"}, got["result"])
	assert.InDelta(t, before+3, completed(t, s), 0)
}

// TestATaskAnsweredTwiceIsAcknowledgedOnce: the second answer to a task,
// with either status, is NOT_FOUND; the first answer's state and result
// stand and tasks_completed_total moved by one.
func TestATaskAnsweredTwiceIsAcknowledgedOnce(t *testing.T) {
	s := taskServer(t)
	submitter, worker := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.MustJoinWorkers(t, worker, "twice")
	id := testutil.SubmitTask(t, submitter, "twice", map[string]any{"q": "x"})
	require.Equal(t, id, nextTask(t, worker, testutil.Timeout).ID)
	done, failed := s.Counter(t, "tasks_completed_total", "done"), s.Counter(t, "tasks_completed_total", "failed")

	testutil.RequireTaskAck(t, testutil.AnswerTask(t, worker, id, protocol.StatusSuccess, `{"answer":1}`), id, "done")
	requireNotHeld(t, testutil.AnswerTask(t, worker, id, protocol.StatusSuccess, `{"answer":2}`), "a second success")
	requireNotHeld(t, testutil.AnswerTask(t, worker, id, protocol.StatusError, `{"answer":3}`), "a later error")

	assert.InDelta(t, done+1, s.Counter(t, "tasks_completed_total", "done"), 0, "one completion counted")
	assert.InDelta(t, failed, s.Counter(t, "tasks_completed_total", "failed"), 0, "the late error was not counted")
	got := testutil.TaskInfo(t, submitter, id)
	assert.Equal(t, "done", got["state"])
	assert.Equal(t, map[string]any{"answer": 1.0}, got["result"], "the first answer's result stands")
	assertStillOpen(t, worker)
}

// TestASilentWorkerLosesItsTaskAndTheTaskDiesAfterMaxAttempts: a task
// nobody answers goes to another worker with attempt 2 once the visibility
// timeout passes; the silent worker's late answer is NOT_FOUND; after
// ARQONBUS_TASK_MAX_ATTEMPTS silent deliveries the task is dead, listed by
// op.task.dead, and never delivered again.
func TestASilentWorkerLosesItsTaskAndTheTaskDiesAfterMaxAttempts(t *testing.T) {
	const maxAttempts = 3
	s := taskServer(t, func(c *config.Config) {
		c.TaskVisibilityTimeout, c.TaskMaxAttempts = taskVisibility, maxAttempts
	})
	submitter := testutil.Dial(t, s)
	first, second := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.MustJoinWorkers(t, first, "silent")
	testutil.MustJoinWorkers(t, second, "silent")
	dead0, redelivered0 := s.Counter(t, "tasks_dead_total"), s.Counter(t, "tasks_redelivered_total")

	id := testutil.SubmitTask(t, submitter, "silent", map[string]any{"never": "answered"})
	// Deliveries alternate between the two workers (round robin from the
	// one after the last served); the attempt number counts them all.
	workers := []*client.Client{first, second}
	var got []int
	holderOf := map[int]*client.Client{}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		var d *protocol.Envelope
		var who *client.Client
		require.True(t, testutil.Poll(testutil.Timeout, func() bool {
			for _, w := range workers {
				if env, err := w.RecvTimeout(5 * time.Millisecond); err == nil {
					d, who = env, w
					return true
				}
			}
			return false
		}), "delivery %d of %s", attempt, id)
		require.Equal(t, "op.task", d.Command, "%s", protocol.Encode(d))
		require.Equal(t, id, d.ID)
		got = append(got, attemptOf(t, d))
		if prev := holderOf[attempt-1]; prev != nil {
			assert.NotSame(t, prev, who, "attempt %d went to the worker that let attempt %d expire", attempt, attempt-1)
			// The previous holder lost the task: its late answer is refused.
			requireNotHeld(t, testutil.AnswerTask(t, prev, id, protocol.StatusSuccess, `{"late":true}`), "a late answer")
		}
		holderOf[attempt] = who
		info := testutil.TaskInfo(t, submitter, id)
		assert.Equal(t, "running", info["state"])
		assert.Equal(t, float64(attempt), info["attempts"], "attempts counts deliveries")
	}
	assert.Equal(t, []int{1, 2, 3}, got, "each redelivery carries attempt+1")

	testutil.Eventually(t, func() bool { return testutil.TaskInfo(t, submitter, id)["state"] == "dead" },
		testutil.Timeout, "the task dead after %d expired deliveries", maxAttempts)
	info := testutil.TaskInfo(t, submitter, id)
	assert.Equal(t, float64(maxAttempts), info["attempts"])
	assert.NotContains(t, info, "result")
	requireNotHeld(t, testutil.AnswerTask(t, holderOf[maxAttempts], id, protocol.StatusSuccess, `{"late":true}`), "an answer to a dead task")
	dead := testutil.Command(t, submitter, "op.task.dead", map[string]any{"group": "silent"})
	require.Equal(t, 1.0, dead["count"], "%v", dead)
	letter := dead["tasks"].([]any)[0].(map[string]any)
	assert.Equal(t, id, letter["task_id"])
	assert.Equal(t, taskq.DeadAttempts, letter["reason"])
	assert.Equal(t, float64(maxAttempts), letter["attempts"])
	assert.Equal(t, map[string]any{"never": "answered"}, letter["body"])
	assert.InDelta(t, dead0+1, s.Counter(t, "tasks_dead_total"), 0)
	assert.InDelta(t, redelivered0+maxAttempts-1, s.Counter(t, "tasks_redelivered_total"), 0)
	assert.InDelta(t, 0, completed(t, s), 0, "no late answer counted")

	// Never delivered again, for several visibility timeouts; both workers
	// are alive and idle (a fresh task reaches one of them).
	testutil.ExpectNone(t, first, 3*taskVisibility)
	testutil.ExpectNone(t, second, 0)
	fresh := testutil.SubmitTask(t, submitter, "silent", map[string]any{"fresh": true})
	var d *protocol.Envelope
	require.True(t, testutil.Poll(testutil.Timeout, func() bool {
		for _, w := range workers {
			if env, err := w.RecvTimeout(5 * time.Millisecond); err == nil {
				d = env
				return true
			}
		}
		return false
	}), "the fresh task is delivered")
	assert.Equal(t, fresh, d.ID, "the dead task never comes back")
}

// TestAnOperatorJoinFloodIsBoundedPerWorker: joining group after group
// stops at ARQONBUS_TASK_MAX_GROUPS_PER_WORKER with LIMIT_EXCEEDED naming
// it, however many connections flood; the task_workers gauge stays at
// connections x limit; joining a group twice is one registration; bad
// group names are VALIDATION_ERROR; and the workers still serve.
func TestAnOperatorJoinFloodIsBoundedPerWorker(t *testing.T) {
	const limit, floods, groups = 4, 4, 60
	s := taskServer(t, func(c *config.Config) { c.TaskMaxGroupsPerWorker = limit })
	b := newBystander(t, s)
	conns := make([]*client.Client, floods)
	for i := range conns {
		conns[i] = testutil.Dial(t, s)
		for g := range groups {
			group := fmt.Sprintf("g%d", g)
			r := joinWith(t, conns[i], kvArgs(map[string]any{"group": group}))
			if g < limit {
				require.Equal(t, protocol.StatusSuccess, r.Status, "join %s: %s", group, protocol.Encode(r))
				continue
			}
			require.Equal(t, string(protocol.CodeLimitExceeded), r.ErrorCode, "join %s: %s", group, protocol.Encode(r))
			require.Contains(t, r.Error, config.VarTaskMaxGroups, "the refusal names the variable")
		}
	}
	assert.InDelta(t, floods*limit, s.Counter(t, "task_workers"), 0, "one registration per (connection, group) under the limit")

	w := conns[0]
	for range 5 {
		testutil.MustJoinWorkers(t, w, "g0") // again: one registration, not refused by the limit
	}
	assert.InDelta(t, floods*limit, s.Counter(t, "task_workers"), 0, "joining a group twice is one registration")

	for name, payload := range map[string]string{
		"an empty group":           `{"group":""}`,
		"a group of 129 chars":     kvArgs(map[string]any{"group": strings.Repeat("g", 129)}),
		"a group with a space":     `{"group":"a b"}`,
		"a unicode group":          `{"group":"grüppe"}`,
		"a look-alike group":       `{"group":"g\u04300"}`,
		"a group of braces":        `{"group":"{}"}`,
		"a hash-tag group":         `{"group":"{q:acme}"}`,
		"a group that is {}":       `{"group":{}}`,
		"a numeric group":          `{"group":7}`,
		"a null group":             `{"group":null}`,
		"no group":                 `{}`,
		"a payload that is a list": `["g0"]`,
	} {
		fresh := testutil.Dial(t, s)
		for _, c := range []*client.Client{fresh, w} { // the check does not depend on the limit
			r := joinWith(t, c, payload)
			assert.Equal(t, string(protocol.CodeValidation), r.ErrorCode, "%s: %s", name, protocol.Encode(r))
			assertNoInternals(t, r, name)
		}
		require.NoError(t, fresh.Close())
	}
	assert.InDelta(t, floods*limit, s.Counter(t, "task_workers"), 0, "no bad name registered a worker")
	// A 128-character name is the longest accepted, once a slot is free.
	testutil.Command(t, w, "op.worker.leave", map[string]any{"group": "g3"})
	testutil.MustJoinWorkers(t, w, strings.Repeat("g", 128))

	// The flooders still work as workers, and the node serves bystanders.
	submitter := testutil.Dial(t, s)
	id := testutil.SubmitTask(t, submitter, strings.Repeat("g", 128), map[string]any{"n": 1})
	d := nextTask(t, w, testutil.Timeout)
	require.Equal(t, id, d.ID)
	testutil.RequireTaskAck(t, testutil.AnswerTask(t, w, id, protocol.StatusSuccess, `{}`), id, "done")
	b.stillServed(t)

	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	testutil.Eventually(t, func() bool { return s.Counter(t, "task_workers") == 0 }, settle,
		"every registration ends with its connection")
}

// TestMalformedTasksAndAnswersAreRefusedAndTheNodeKeepsServing: a task
// over ARQONBUS_TASK_MAX_BYTES is LIMIT_EXCEEDED naming it; a task that is
// not an object (array, string, number, null, missing) is
// VALIDATION_ERROR; nothing of them is queued. A completion whose status
// is neither success nor error is VALIDATION_ERROR and leaves the task
// with its worker. Other clients are served throughout.
func TestMalformedTasksAndAnswersAreRefusedAndTheNodeKeepsServing(t *testing.T) {
	const maxBytes = 256
	s := taskServer(t, func(c *config.Config) { c.TaskMaxBytes = maxBytes })
	b := newBystander(t, s)
	c, worker := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.MustJoinWorkers(t, worker, "shape")
	testutil.MustJoinWorkers(t, worker, taskq.TruthGroup)
	submitted := s.Counter(t, "tasks_submitted_total")

	big := `{"blob":"` + pad(maxBytes) + `"}`
	for _, tc := range []struct {
		name, command, args string
		code                protocol.Code
		says                string
	}{
		{"a task over the limit", "op.task.submit", `{"group":"shape","task":` + big + `}`, protocol.CodeLimitExceeded, config.VarTaskMaxBytes},
		{"a task padded over the limit", "op.task.submit", `{"group":"shape","task":{"a":1` + strings.Repeat(" ", maxBytes) + `}}`, protocol.CodeLimitExceeded, config.VarTaskMaxBytes},
		{"truth.verify args over the limit", "truth.verify", big, protocol.CodeLimitExceeded, config.VarTaskMaxBytes},
		{"an array task", "op.task.submit", `{"group":"shape","task":[1,2]}`, protocol.CodeValidation, "args.task"},
		{"a string task", "op.task.submit", `{"group":"shape","task":"{\"a\":1}"}`, protocol.CodeValidation, "args.task"},
		{"a number task", "op.task.submit", `{"group":"shape","task":42}`, protocol.CodeValidation, "args.task"},
		{"a null task", "op.task.submit", `{"group":"shape","task":null}`, protocol.CodeValidation, "args.task"},
		{"a boolean task", "op.task.submit", `{"group":"shape","task":true}`, protocol.CodeValidation, "args.task"},
		{"no task", "op.task.submit", `{"group":"shape"}`, protocol.CodeValidation, "args.task"},
		{"no group", "op.task.submit", `{"task":{}}`, protocol.CodeValidation, "args.group"},
		{"a bad group", "op.task.submit", `{"group":"a b","task":{}}`, protocol.CodeValidation, "args.group"},
		{"truth.verify args that are a list", "truth.verify", `[1]`, protocol.CodeValidation, "args"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kvCall(t, c, tc.command, tc.args)
			require.Equal(t, string(tc.code), r.ErrorCode, "%s", protocol.Encode(r))
			assert.Contains(t, r.Error+string(r.Payload), tc.says)
			assertNoInternals(t, r, tc.name)
		})
	}
	assert.InDelta(t, submitted, s.Counter(t, "tasks_submitted_total"), 0, "nothing was queued")
	testutil.ExpectNone(t, worker, 3*taskPoll) // nothing reached the worker
	b.stillServed(t)

	// Exactly at the limit is accepted.
	exact := `{"blob":"` + pad(maxBytes-len(`{"blob":""}`)) + `"}`
	id := testutil.SubmitTask(t, c, "shape", json.RawMessage(exact))
	require.Equal(t, id, nextTask(t, worker, testutil.Timeout).ID)

	for _, status := range []string{"ok", "SUCCESS", "done", "failed", "pending", " success"} {
		r := testutil.AnswerTask(t, worker, id, status, `{"x":1}`)
		assert.Equal(t, string(protocol.CodeValidation), r.ErrorCode, "status %q: %s", status, protocol.Encode(r))
		assertNoInternals(t, r, "status "+status)
	}
	got := testutil.TaskInfo(t, c, id)
	assert.Equal(t, "running", got["state"], "a refused answer leaves the task with its worker: %v", got)
	assert.NotContains(t, got, "result")
	testutil.RequireTaskAck(t, testutil.AnswerTask(t, worker, id, protocol.StatusSuccess, `{"x":2}`), id, "done")
	assert.Equal(t, map[string]any{"x": 2.0}, testutil.TaskInfo(t, c, id)["result"])
	assertStillOpen(t, c)
	b.stillServed(t)
}

// TestTenantsNeverSeeEachOthersTasks: with auth on, workers of two tenants
// serve groups of the same names; each receives only its own tenant's
// tasks, and no tenant reads, lists or answers the other's.
func TestTenantsNeverSeeEachOthersTasks(t *testing.T) {
	s := taskServer(t, taskAuth)
	tenants := []string{"acme", "globex"}
	submitters, workers := map[string]*client.Client{}, map[string]*client.Client{}
	for _, tenant := range tenants {
		submitters[tenant] = dialAs(t, s, "submitter", tenant, "user")
		workers[tenant] = dialAs(t, s, "worker", tenant, "operator")
		testutil.MustJoinWorkers(t, workers[tenant], "shared")
		testutil.MustJoinWorkers(t, workers[tenant], taskq.TruthGroup)
	}

	// globex queues several tasks; its worker gets them all, one by one.
	var theirs []string
	for i := range 4 {
		theirs = append(theirs, testutil.SubmitTask(t, submitters["globex"], "shared", map[string]any{"globex": i}))
	}
	r := kvCall(t, submitters["globex"], "truth.verify", `{"claim":"globex"}`)
	require.Empty(t, r.ErrorCode, "%s", protocol.Encode(r))
	var tv struct {
		Data struct {
			TaskID string `json:"task_id"`
		}
	}
	require.NoError(t, json.Unmarshal(r.Payload, &tv))
	theirs = append(theirs, tv.Data.TaskID)
	for range theirs {
		d := nextTask(t, workers["globex"], testutil.Timeout)
		assert.Contains(t, theirs, d.ID)
		testutil.RequireTaskAck(t, testutil.AnswerTask(t, workers["globex"], d.ID, protocol.StatusSuccess, `{"secret":"globex"}`), d.ID, "done")
	}
	// acme's worker, in groups of the same names, received none of it.
	testutil.ExpectNone(t, workers["acme"], 3*taskPoll)

	acme := submitters["acme"]
	for _, id := range theirs {
		r := kvCall(t, acme, "op.task.get", kvArgs(map[string]any{"task_id": id}))
		assert.Equal(t, string(protocol.CodeNotFound), r.ErrorCode, "acme reads globex's %s: %s", id, protocol.Encode(r))
		assert.NotContains(t, string(protocol.Encode(r)), "secret")
		assert.Equal(t, "done", testutil.TaskInfo(t, submitters["globex"], id)["state"], "globex reads its own")
	}
	dead := testutil.Command(t, workers["acme"], "op.task.dead", map[string]any{"group": "shared"})
	assert.Equal(t, 0.0, dead["count"])

	// acme's own task reaches acme's worker only.
	mine := testutil.SubmitTask(t, acme, "shared", map[string]any{"acme": true})
	require.Equal(t, mine, nextTask(t, workers["acme"], testutil.Timeout).ID)
	testutil.ExpectNone(t, workers["globex"], 3*taskPoll)
	requireNotHeld(t, testutil.AnswerTask(t, workers["globex"], mine, protocol.StatusSuccess, `{}`), "globex answers acme's task")
	r = kvCall(t, submitters["globex"], "op.task.get", kvArgs(map[string]any{"task_id": mine}))
	assert.Equal(t, string(protocol.CodeNotFound), r.ErrorCode, "%s", protocol.Encode(r))
	testutil.RequireTaskAck(t, testutil.AnswerTask(t, workers["acme"], mine, protocol.StatusSuccess, `{}`), mine, "done")
}
