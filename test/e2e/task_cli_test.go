//go:build e2e

package e2e

import (
	"encoding/json"
	"regexp"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// taskScript is a worker's command: it reads the task on stdin and prints
// a JSON object naming the task and attempt from its environment, or, for
// a task that says "fail", complains on stderr and exits 3.
const taskScript = `in=$(cat)
case "$in" in *fail*) echo "refusing $ARQON_TASK_ID" >&2; exit 3;; esac
printf '{"task":"%s","attempt":%s,"in":%s}\n' "$ARQON_TASK_ID" "$ARQON_TASK_ATTEMPT" "$in"`

// arqonTask runs `arqon task args...` against the server in env and
// returns its reply's data, failing unless it exits 0.
func arqonTask(t *testing.T, env []string, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := testutil.RunArqon(t, env, append([]string{"task"}, args...)...)
	require.Equal(t, 0, code, "arqon task %v\nstdout: %s\nstderr: %s", args, stdout, stderr)
	return kvReply(t, stdout)
}

// eventuallyTaskState polls `arqon task get id` until the task is in
// state and returns the last reply's data.
func eventuallyTaskState(t *testing.T, env []string, id, state string) map[string]any {
	t.Helper()
	var last map[string]any
	testutil.Eventually(t, func() bool {
		last = arqonTask(t, env, "get", id)
		return last["state"] == state
	}, testutil.Timeout, "task %s %s (last: %v)", id, state, last)
	return last
}

// taskWorkers reads the node's arqonbus_task_workers gauge.
func taskWorkers(t *testing.T, p *testutil.Proc) float64 {
	t.Helper()
	return scrape(t, p).Get(t, "task_workers")
}

func TestArqonWorkerRunsItsCommandPerTaskAndArqonTaskShowsDoneAndFailedResults(t *testing.T) {
	t.Parallel()
	// `arqon worker cli -- sh -c …` serves group cli of a dev node.
	// `arqon task submit` prints the new task's id; the worker runs its
	// command with the task on stdin, and `arqon task get` shows the task
	// done with the JSON object the command printed as its result. A
	// command that exits 3 makes its task failed with exit_code 3 and the
	// command's stderr. SIGTERM ends the worker with status 0, and the
	// node counts no worker any more.
	p := testutil.RunBinary(t, devEnv())
	env := []string{"ARQON_URL=" + p.URL}
	worker := testutil.StartArqon(t, nil, env, "worker", "cli", "--", "sh", "-c", taskScript)
	testutil.Eventually(t, func() bool { return taskWorkers(t, p) == 1 }, testutil.Timeout, "the worker joined")
	assert.Regexp(t, `(?m)^arqon: worker of cli on ws://\S+; Ctrl-C to stop$`, worker.Stderr.String())

	t.Run("a task the command answers is done with what it printed", func(t *testing.T) {
		submitted := arqonTask(t, env, "submit", "cli", `{"n":1}`)
		id, _ := submitted["task_id"].(string)
		require.Regexp(t, `^task_[0-9a-f]{32}$`, id, "arqon task submit printed: %v", submitted)
		assert.Equal(t, "cli", submitted["group"])

		got := eventuallyTaskState(t, env, id, "done")
		assert.Equal(t, id, got["task_id"])
		assert.Equal(t, "cli", got["group"])
		assert.EqualValues(t, 1, got["attempts"])
		result, err := json.Marshal(got["result"])
		require.NoError(t, err)
		assert.JSONEq(t, `{"task":"`+id+`","attempt":1,"in":{"n":1}}`, string(result))
		testutil.Eventually(t, func() bool {
			return regexp.MustCompile(`(?m)^arqon: task ` + id + ` attempt 1 success \S+, recorded as done$`).
				MatchString(worker.Stderr.String())
		}, testutil.Timeout, "the worker's line for %s", id)
	})

	t.Run("a command that exits 3 fails its task with exit_code 3", func(t *testing.T) {
		id, _ := arqonTask(t, env, "submit", "cli", `{"please":"fail"}`)["task_id"].(string)
		require.NotEmpty(t, id)

		got := eventuallyTaskState(t, env, id, "failed")
		assert.EqualValues(t, 1, got["attempts"], "a failed task is not delivered again")
		result, _ := got["result"].(map[string]any)
		assert.Equal(t, map[string]any{"exit_code": float64(3), "output": "", "stderr": "refusing " + id + "\n"}, result)
		testutil.Eventually(t, func() bool {
			return regexp.MustCompile(`(?m)^arqon: task ` + id + ` attempt 1 error \(exit status 3\) \S+, recorded as failed$`).
				MatchString(worker.Stderr.String())
		}, testutil.Timeout, "the worker's line for %s", id)
	})

	t.Run("SIGTERM ends the worker with status 0", func(t *testing.T) {
		require.NoError(t, worker.Process().Signal(syscall.SIGTERM))
		assert.Equal(t, 0, worker.WaitExit(t, testutil.ArqonInterruptBound))
		testutil.Eventually(t, func() bool { return taskWorkers(t, p) == 0 }, testutil.Timeout, "the node lost its worker")
	})
}
