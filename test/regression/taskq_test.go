package regression

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// taskKeys names the work queue's keys of group in the implicit tenant of
// a node without auth, as the node builds them.
func taskKeys(t *testing.T, c *redis.Client, group string) (stream, dead string) {
	t.Helper()
	q, err := redisq.New(redisq.Options{Client: c, Limits: taskq.Limits{MaxAttempts: 1, Visibility: time.Second, ResultTTL: time.Second}})
	require.NoError(t, err)
	return q.StreamKey("", group), q.DeadKey("", group)
}

// nextDelivery returns the next task delivered to c.
func nextDelivery(t *testing.T, c *client.Client) *protocol.Envelope {
	t.Helper()
	d := testutil.Expect(t, c)
	require.Equal(t, "op.task", d.Command, "a task delivery: %s", protocol.Encode(d))
	return d
}

// The original work queue read tasks with XREADGROUP and never XACKed
// them: every completed task stayed in the group's pending list and in the
// stream for ever, so Redis grew without bound and XPENDING could not tell
// live work from finished. Now a completion acknowledges and deletes its
// entry, so once a task is done the group has nothing pending and the
// stream is empty (SPEC §11.1).
func TestRegression_TasksAreAcknowledgedOnCompletion(t *testing.T) {
	// A dedicated real Redis: XPENDING and XLEN are asked of the server
	// itself, not of a fake.
	srv := redistest.RedisWithFaults(t)
	rc := redistest.RedisClient(t, srv)
	s := testutil.StartServer(t, testutil.WithRedis(srv.URL(), config.ModeStrict))
	const group = "acked"
	stream, _ := taskKeys(t, rc, group)
	submitter, worker := testutil.Dial(t, s), testutil.Dial(t, s)
	require.Empty(t, testutil.JoinWorkers(t, worker, group).ErrorCode)

	for i := range 3 {
		data := testutil.Command(t, submitter, "op.task.submit", map[string]any{"group": group, "task": map[string]any{"n": i}})
		id := data["task_id"].(string)
		d := nextDelivery(t, worker)
		require.Equal(t, id, d.ID)
		// Control: while the task runs, its entry is pending to the worker.
		pending, err := rc.XPending(testutil.Ctx(t), stream, "workers").Result()
		require.NoError(t, err, "XPENDING %s", stream)
		require.EqualValues(t, 1, pending.Count, "the running task is pending")
		assert.Equal(t, map[string]int64{worker.ID(): 1}, pending.Consumers)

		testutil.CompleteTask(t, worker, id)
		pending, err = rc.XPending(testutil.Ctx(t), stream, "workers").Result()
		require.NoError(t, err)
		assert.EqualValues(t, 0, pending.Count, "a completed task is acknowledged")
		n, err := rc.XLen(testutil.Ctx(t), stream).Result()
		require.NoError(t, err)
		assert.EqualValues(t, 0, n, "an acknowledged entry is removed from the stream")
		assert.Equal(t, "done", testutil.Command(t, submitter, "op.task.get", map[string]any{"task_id": id})["state"])
	}
}

// The original skipped every stream entry it could not decode: the entry
// stayed pending, nothing was logged or counted, and the work it stood for
// vanished without a trace. Now an undecodable entry is logged with its
// stream and entry id, counted in task_decode_failures_total, moved to the
// group's dead-letter list and acknowledged, so it is neither lost silently
// nor met again, and the tasks behind it are served (SPEC §11.1).
func TestRegression_UndecodableTaskEntriesAreDeadLetteredNotSkipped(t *testing.T) {
	mr := redistest.MiniRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict),
		testutil.WithConfig(func(c *config.Config) { c.TaskPollInterval = 20 * time.Millisecond }))
	const group = "corrupt"
	stream, _ := taskKeys(t, rc, group)
	ctx := testutil.Ctx(t)

	// A foreign entry, written before any task, where the next claim reads.
	entry, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"junk", "not a task"}}).Result()
	require.NoError(t, err)
	before := s.Counter(t, "task_decode_failures_total")

	worker, submitter := testutil.Dial(t, s), testutil.Dial(t, s)
	require.Empty(t, testutil.JoinWorkers(t, worker, group).ErrorCode)
	testutil.Eventually(t, func() bool { return s.Counter(t, "task_decode_failures_total") == before+1 },
		testutil.Timeout, "the corrupt entry counted")

	dead := testutil.Command(t, submitter, "op.task.dead", map[string]any{"group": group})
	require.Equal(t, 1.0, dead["count"], "%v", dead)
	letter := dead["tasks"].([]any)[0].(map[string]any)
	assert.Equal(t, entry, letter["entry_id"])
	assert.Equal(t, taskq.DeadDecode, letter["reason"])
	assert.Contains(t, letter["raw"], "not a task", "the letter keeps what was read")

	var line string
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, "entry_id="+entry) {
			line = l
		}
	}
	assert.Contains(t, line, `msg="task entry did not decode"`)
	assert.Contains(t, line, "stream="+stream)
	assert.Contains(t, line, "level=ERROR")

	// Not pending, not in the stream: it is never met again; and the next
	// task is served.
	pending, err := rc.XPending(ctx, stream, "workers").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 0, pending.Count, "the corrupt entry is acknowledged")
	id := testutil.Command(t, submitter, "op.task.submit", map[string]any{"group": group, "task": map[string]any{}})["task_id"].(string)
	require.Equal(t, id, nextDelivery(t, worker).ID)
	testutil.CompleteTask(t, worker, id)
	assert.InDelta(t, before+1, s.Counter(t, "task_decode_failures_total"), 0, "counted once, never met again")
	assert.InDelta(t, 1, s.Counter(t, "tasks_dead_total"), 0)
}

// The original opened the operator lane (operator.join and the op.task
// commands) whenever the environment was not spelled exactly
// "production", so staging and "prod" deployments accepted workers and
// tasks from anyone. Now the lane is closed in staging and prod under every
// alias and case unless ARQONBUS_ENABLE_PROTOTYPE_RSI=true, answering
// FEATURE_DISABLED before anything else, and open in dev (SPEC §6, §11.1).
func TestRegression_TheOperatorLaneStaysClosedInProductionUnderEveryAlias(t *testing.T) {
	submit := map[string]any{"group": "g", "task": map[string]any{"n": 1}}
	for _, alias := range []string{"staging", "stage", "prod", "production", "PROD", " Production ", "STAGE", "Staging\t"} {
		t.Run(strings.TrimSpace(alias), func(t *testing.T) {
			s := testutil.StartServer(t, fromEnviron(t, "ARQONBUS_ENVIRONMENT="+alias))
			c := testutil.Dial(t, s)
			join := testutil.JoinWorkers(t, c, "g")
			assert.Equal(t, string(protocol.CodeFeatureDisabled), join.ErrorCode, "operator.join in %q: %s", alias, protocol.Encode(join))
			assert.Contains(t, join.Error, "ARQONBUS_ENABLE_PROTOTYPE_RSI", "the refusal says what opens the lane")
			for _, name := range []string{"op.task.submit", "truth.verify"} {
				_, err := c.Command(testutil.Ctx(t), name, submit)
				var we *protocol.Error
				require.ErrorAs(t, err, &we, "%s in %q", name, alias)
				assert.Equal(t, protocol.CodeFeatureDisabled, we.Code, "%s in %q: %v", name, alias, we)
			}
			assert.InDelta(t, 0, s.Counter(t, "task_workers"), 0, "no worker registered")
			assert.InDelta(t, 0, s.Counter(t, "tasks_submitted_total"), 0, "no task stored")
		})
	}
	t.Run("the variable opens it", func(t *testing.T) {
		s := testutil.StartServer(t, fromEnviron(t, "ARQONBUS_ENVIRONMENT=production", "ARQONBUS_ENABLE_PROTOTYPE_RSI=true"))
		_, err := testutil.Dial(t, s).Command(testutil.Ctx(t), "op.task.submit", submit)
		assert.NoError(t, err, "op.task.submit with the lane opened on purpose")
	})
	t.Run("dev", func(t *testing.T) {
		s := testutil.StartServer(t, fromEnviron(t, "ARQONBUS_ENVIRONMENT=dev"))
		worker, submitter := testutil.Dial(t, s), testutil.Dial(t, s)
		join := testutil.JoinWorkers(t, worker, "g")
		require.Equal(t, protocol.StatusSuccess, join.Status, "operator.join in dev: %s", protocol.Encode(join))
		id := testutil.Command(t, submitter, "op.task.submit", submit)["task_id"].(string)
		require.Equal(t, id, nextDelivery(t, worker).ID, "the task reaches the worker")
		testutil.CompleteTask(t, worker, id)
	})
}
