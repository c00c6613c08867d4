package main

import (
	"io"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// checkTasksDone asserts that a tasks run submitted n tasks and that every
// one was acknowledged, delivered once and completed, by the tool's count
// and by the server's.
func checkTasksDone(t *testing.T, res map[string]any, n float64) {
	t.Helper()
	for _, k := range []string{"tasks_submitted", "tasks_acknowledged", "tasks_delivered", "tasks_completed"} {
		if v := num(t, res, k); v != n {
			t.Errorf("%s = %v, want %v", k, v, n)
		}
	}
	for _, k := range []string{"tasks_rejected", "submits_unanswered", "tasks_lost", "tasks_undelivered",
		"redeliveries", "id_mismatches", "respond_failures", "task_other_frames"} {
		if v := num(t, res, k); v != 0 {
			t.Errorf("%s = %v, want 0", k, v)
		}
	}
	if e, ok := res["task_errors"]; ok {
		t.Errorf("error replies: %v", e)
	}
	for _, k := range []string{"submit_to_ack_ms", "submit_to_worker_ms", "submit_to_done_ms"} {
		checkQuantiles(t, res, k)
	}
	// Completion follows delivery, which follows the submit.
	if w, d := num(t, res, "submit_to_worker_ms", "p50"), num(t, res, "submit_to_done_ms", "p50"); w > d {
		t.Errorf("submit->worker p50 %v ms is above submit->done p50 %v ms", w, d)
	}
	if num(t, res, "tasks_per_s") <= 0 || num(t, res, "steady_s") <= 0 {
		t.Errorf("no completion rate reported")
	}
	if num(t, res, "worker_tasks_min") < 1 {
		t.Errorf("a worker completed no task: %v..%v", num(t, res, "worker_tasks_min"), num(t, res, "worker_tasks_max"))
	}
	for _, k := range []string{"submitted", "delivered"} {
		if v := num(t, res, "server_task_counters", k); v != n {
			t.Errorf("server %s %v, want %v", k, v, n)
		}
	}
	if v := num(t, res, "server_task_counters", "completed", "done"); v != n {
		t.Errorf("server completed %v done, want %v", v, n)
	}
}

func TestTasksRunsLossFreeAgainstAnInProcessServer(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.RateLimitPerSecond = 0
		c.TaskPrefetch = 2
	}))

	t.Run("open loop", func(t *testing.T) {
		// Bound: setup + 1 s of submits + a drain that ends when all are done.
		res := benchRun(t, s, 10*time.Second, "tasks", "--workers", "3", "--submitters", "2",
			"--tasks", "300", "--rate", "300", "--drain", "5s")
		checkTasksDone(t, res, 300)
		if res["closed_loop"] != false || num(t, res, "task_rate") != 300 || num(t, res, "connections") != 5 {
			t.Errorf("closed_loop %v task_rate %v connections %v, want false, 300, 5",
				res["closed_loop"], num(t, res, "task_rate"), num(t, res, "connections"))
		}
		checkQuantiles(t, res, "submit_lag_ms")
	})
	t.Run("closed loop with simulated work", func(t *testing.T) {
		res := benchRun(t, s, 10*time.Second, "tasks", "--workers", "4", "--submitters", "2",
			"--tasks", "400", "--rate", "max", "--inflight", "4", "--work", "2ms", "--drain", "5s")
		checkTasksDone(t, res, 400)
		if res["closed_loop"] != true || num(t, res, "inflight") != 4 {
			t.Errorf("closed_loop %v inflight %v, want true and 4", res["closed_loop"], res["inflight"])
		}
		// Every task waited its 2 ms of work before its completion.
		if d := num(t, res, "submit_to_done_ms", "p50") - num(t, res, "submit_to_worker_ms", "p50"); d < 2 {
			t.Errorf("completion %v ms after delivery at p50, want at least the 2 ms of work", d)
		}
	})
}

func TestRejectedSubmitsAreCountedByCodeAndAreNotLoss(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.RateLimitPerSecond = 0
		c.TaskMaxBytes = 100
	}))
	// 200-byte tasks are over the server's 100-byte bound: each submit is
	// answered LIMIT_EXCEEDED, and the run still completes.
	res := benchRun(t, s, 10*time.Second, "tasks", "--workers", "1", "--submitters", "1",
		"--tasks", "50", "--rate", "max", "--payload", "200", "--drain", "5s")
	if got := num(t, res, "task_errors", "submit:LIMIT_EXCEEDED"); got != 50 {
		t.Errorf("submit:LIMIT_EXCEEDED %v, want 50", got)
	}
	if r, a, l := num(t, res, "tasks_rejected"), num(t, res, "tasks_acknowledged"), num(t, res, "tasks_lost"); r != 50 || a != 0 || l != 0 {
		t.Errorf("rejected %v acknowledged %v lost %v, want 50, 0, 0", r, a, l)
	}
	// The worker was joined (the run's setup needs its join reply), and
	// the server stored nothing.
	if n := num(t, res, "server_task_counters", "submitted"); n != 0 {
		t.Errorf("server submitted %v, want 0", n)
	}
}

func TestTasksFlags(t *testing.T) {
	c, err := parseArgs([]string{"tasks", "--workers", "2", "--submitters", "3", "--rate", "max", "--work", "5ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.closedLoop || c.clients != 2 || c.submitters != 3 || c.work != 5*time.Millisecond || c.connections() != 5 {
		t.Fatalf("closedLoop %v workers %d submitters %d work %v connections %d",
			c.closedLoop, c.clients, c.submitters, c.work, c.connections())
	}
	c, err = parseArgs([]string{"tasks", "--rate", "250"}, io.Discard)
	if err != nil || c.closedLoop || c.rate != 250 {
		t.Fatalf("--rate 250: closedLoop %v rate %v err %v", c.closedLoop, c.rate, err)
	}
	for _, args := range [][]string{
		{"tasks", "--rate", "fast"},
		{"tasks", "--rate", "0"},
		{"tasks", "--tasks", "0"},
		{"tasks", "--submitters", "0"},
		{"tasks", "--workers", "0"},
		{"tasks", "--inflight", "0"},
		{"tasks", "--work", "-1s"},
		{"tasks", "--group", "no spaces"},
	} {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestSteadyRateLeavesOutTheFirstAndLastTenthOfCompletions(t *testing.T) {
	// 100 completions 1 ms apart, then a straggler a second later: the
	// window runs from completion 10 to completion 90: 80 in 80 ms.
	done := make([]int64, 0, 101)
	for i := range 100 {
		done = append(done, int64(i)*int64(time.Millisecond))
	}
	done = append(done, int64(1100*time.Millisecond))
	perS, w := steadyRate(done)
	if perS != 1000 || w != 0.08 {
		t.Fatalf("steadyRate = %v/s over %v s, want 1000/s over 0.08 s", perS, w)
	}
	if perS, w := steadyRate(nil); perS != 0 || w != 0 {
		t.Fatalf("no completions: %v/s over %v s", perS, w)
	}
}
