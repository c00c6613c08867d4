package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// benchRun runs arqonbench with args against s and returns its JSON result,
// failing unless it exits 0 within limit.
func benchRun(t *testing.T, s *testutil.Server, limit time.Duration, args ...string) map[string]any {
	t.Helper()
	args = append(args, "--url", s.URL, "--server-pid", strconv.Itoa(os.Getpid()),
		"--metrics-url", s.HTTP+"/metrics")
	return completedRun(t, limit, args...)
}

// completedRun runs arqonbench with args and returns its JSON result,
// failing unless it completes and exits 0 within limit.
func completedRun(t *testing.T, limit time.Duration, args ...string) map[string]any {
	t.Helper()
	code, res, took := toolRun(t, t.Context(), args...)
	if code != 0 {
		t.Fatalf("exit %d: %v", code, res["error"])
	}
	if took > limit {
		t.Errorf("run took %v, more than its bound %v", took, limit)
	}
	if res["completed"] != true {
		t.Fatalf("run not completed: %v", res["error"])
	}
	return res
}

// toolRun runs arqonbench with args and --json, and returns its exit code,
// its JSON result and how long it took.
func toolRun(t *testing.T, ctx context.Context, args ...string) (int, map[string]any, time.Duration) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, append(args, "--json"), nil, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("%s", stderr.String())
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("exit %d; stdout is not one JSON object: %v: %s", code, err, stdout.String())
	}
	return code, res, took
}

func num(t *testing.T, res map[string]any, path ...string) float64 {
	t.Helper()
	var v any = res
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: not an object at %q", path, k)
		}
		v = m[k]
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v: not a number: %v", path, v)
	}
	return f
}

// checkStream asserts a loss-free publishing run with plausible numbers.
func checkStream(t *testing.T, res map[string]any, expected float64) {
	t.Helper()
	checkDelivery(t, res, expected)
	if num(t, res, "tool_cpu_pct") <= 0 {
		t.Errorf("no tool CPU reported")
	}
	if _, ok := res["server_cpu_pct"]; !ok {
		t.Errorf("no server CPU reported")
	}
}

// checkDelivery asserts that every expected delivery arrived once, in
// order, with plausible latencies.
func checkDelivery(t *testing.T, res map[string]any, expected float64) {
	t.Helper()
	for _, k := range []string{"loss", "duplicates", "out_of_order", "ack_errors", "other_frames"} {
		if v := num(t, res, k); v != 0 {
			t.Errorf("%s = %v, want 0", k, v)
		}
	}
	if got := num(t, res, "received"); got != expected || num(t, res, "expected") != expected {
		t.Errorf("received %v of %v, want %v", got, num(t, res, "expected"), expected)
	}
	checkQuantiles(t, res, "latency_ms")
	if num(t, res, "delivered_per_s") <= 0 {
		t.Errorf("no delivery rate reported")
	}
}

// checkServerCounters asserts that the server's own counters, read through
// --metrics-url, saw every delivery of the run (warm-up included) and
// dropped nothing.
func checkServerCounters(t *testing.T, res map[string]any, delivered float64) {
	t.Helper()
	if got := num(t, res, "server_counters", "delivered"); got != delivered {
		t.Errorf("server delivered %v, want %v", got, delivered)
	}
	if d, sc := num(t, res, "server_counters", "dropped"), num(t, res, "server_counters", "slow_consumer_disconnects"); d != 0 || sc != 0 {
		t.Errorf("server dropped %v and disconnected %v slow consumers, want none", d, sc)
	}
}

// checkQuantiles asserts 0 < p50 <= p99 <= max < 5 s for the summary at key.
func checkQuantiles(t *testing.T, res map[string]any, key string) {
	t.Helper()
	p50, p99, mx := num(t, res, key, "p50"), num(t, res, key, "p99"), num(t, res, key, "max")
	if !(p50 > 0 && p50 <= p99 && p99 <= mx && mx < 5000) {
		t.Errorf("implausible %s: p50 %v p99 %v max %v", key, p50, p99, mx)
	}
}

func TestWorkloadsRunLossFreeAgainstAnInProcessServer(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) { c.RateLimitPerSecond = 0 }))

	t.Run("fanout", func(t *testing.T) {
		// Bound: setup + warmup 0.5 s + duration 1 s + drain 3 s + close.
		res := benchRun(t, s, 10*time.Second, "fanout", "--subscribers", "20", "--rate", "200",
			"--duration", "1s", "--warmup", "500ms", "--drain", "3s")
		checkStream(t, res, 20*200)
		if num(t, res, "sent") != 200 || num(t, res, "connections") != 21 {
			t.Errorf("sent %v on %v connections, want 200 on 21", num(t, res, "sent"), num(t, res, "connections"))
		}
		checkServerCounters(t, res, 20*300)
	})
	t.Run("channels", func(t *testing.T) {
		res := benchRun(t, s, 10*time.Second, "channels", "--clients", "10", "--rate", "10",
			"--duration", "1s", "--warmup", "500ms", "--drain", "3s")
		checkStream(t, res, 10*10)
		if num(t, res, "connections") != 20 {
			t.Errorf("connections %v, want 20", num(t, res, "connections"))
		}
		checkServerCounters(t, res, 10*15)
	})
	t.Run("idle", func(t *testing.T) {
		res := benchRun(t, s, 10*time.Second, "idle", "--connections", "50", "--hold", "200ms")
		if num(t, res, "connections") != 50 || num(t, res, "dropped") != 0 {
			t.Errorf("connections %v dropped %v", num(t, res, "connections"), num(t, res, "dropped"))
		}
		if c := num(t, res, "connect_s"); c <= 0 || c > 5 {
			t.Errorf("connect_s %v", c)
		}
		// Server and tool share this process: at least the server's reader
		// per connection shows up.
		if g := num(t, res, "goroutines_per_conn"); g < 1 {
			t.Errorf("goroutines per connection %v, want at least 1", g)
		}
		if _, ok := res["server_rss_per_conn_kib"]; !ok {
			t.Errorf("no RSS per connection reported")
		}
	})
}

func TestFloorRunsLossFreeAndLeavesNoWriterBehind(t *testing.T) {
	// Bound: setup + warm-up 0.5 s + duration 1 s + drain 3 s + exit.
	res := completedRun(t, 10*time.Second, "floor", "--connections", "20", "--rate", "20",
		"--duration", "1s", "--warmup", "500ms", "--drain", "3s", "--writer-cpu", "-1")
	checkDelivery(t, res, 20*20)
	if num(t, res, "sent") != 20 || num(t, res, "connections") != 20 || num(t, res, "write_errors") != 0 {
		t.Errorf("sent %v on %v connections with %v write errors, want 20 on 20 with none",
			num(t, res, "sent"), num(t, res, "connections"), num(t, res, "write_errors"))
	}
	checkQuantiles(t, res, "writer_burst_ms")
	checkQuantiles(t, res, "send_lag_ms")
	// The run plans 30 bursts (10 of them warm-up): ids "b0-00".."b0-29".
	if got, want := num(t, res, "frame_bytes"), float64(len(newFloorFrame(30, 128).build(time.Now(), 0))); got != want {
		t.Errorf("frame_bytes %v, want %v", got, want)
	}
	if _, ok := res["writer_cpu_pct"]; !ok {
		t.Errorf("no writer CPU reported")
	}
	checkGone(t, res)
}

func TestAWriterThatFallsBehindLosesNothing(t *testing.T) {
	// 1e6 bursts/s is far beyond any writer: it is still behind at the
	// deadline, where it finishes the burst it is in and stops.
	res := completedRun(t, 10*time.Second, "floor", "--connections", "5", "--rate", "1e6",
		"--duration", "100ms", "--warmup", "0", "--drain", "0", "--writer-cpu", "-1")
	sent, planned := num(t, res, "sent"), num(t, res, "planned")
	if !(sent > 0 && sent < planned) {
		t.Fatalf("sent %v of %v planned bursts, want some but not all", sent, planned)
	}
	checkDelivery(t, res, 5*sent)
	checkGone(t, res)
}

func TestInterruptedFloorRunLeavesNoWriterBehind(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	code, res, took := toolRun(t, ctx, "floor", "--connections", "20", "--rate", "20",
		"--duration", "30s", "--writer-cpu", "-1")
	if code != 1 || res["completed"] != false || res["error"] != "interrupted" {
		t.Fatalf("exit %d, completed %v, error %v; want 1, false, interrupted", code, res["completed"], res["error"])
	}
	if took > 5*time.Second {
		t.Errorf("interrupted run took %v to end", took)
	}
	checkGone(t, res)
}

func TestAWriterThatCannotPinItselfIsAClearError(t *testing.T) {
	// unix.CPUSet's last CPU: not online on any machine this runs on.
	code, res, _ := toolRun(t, t.Context(), "floor", "--connections", "2", "--rate", "10",
		"--duration", "1s", "--writer-cpu", "1023")
	msg, _ := res["error"].(string)
	if code != 1 || !strings.Contains(msg, "pin to CPU 1023") {
		t.Fatalf("exit %d, error %q; want 1 and the pinning failure", code, msg)
	}
	checkGone(t, res)
}

// checkGone asserts that the run's writer process has exited and been
// reaped.
func checkGone(t *testing.T, res map[string]any) {
	t.Helper()
	pid := int(num(t, res, "writer_pid"))
	if pid <= 0 {
		t.Fatalf("writer_pid %d", pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("writer %d still exists (kill 0: %v)", pid, err)
	}
}
