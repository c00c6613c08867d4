package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// benchRun runs arqonbench with args against s and returns its JSON result,
// failing unless it exits 0 within limit.
func benchRun(t *testing.T, s *testutil.Server, limit time.Duration, args ...string) map[string]any {
	t.Helper()
	args = append(args, "--url", s.URL, "--json", "--server-pid", strconv.Itoa(os.Getpid()),
		"--metrics-url", s.HTTP+"/metrics")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(t.Context(), args, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if took > limit {
		t.Errorf("run took %v, more than its bound %v", took, limit)
	}
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v: %s", err, stdout.String())
	}
	if res["completed"] != true {
		t.Fatalf("run not completed: %v", res["error"])
	}
	return res
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
	for _, k := range []string{"loss", "duplicates", "out_of_order", "ack_errors", "other_frames"} {
		if v := num(t, res, k); v != 0 {
			t.Errorf("%s = %v, want 0", k, v)
		}
	}
	if got := num(t, res, "received"); got != expected || num(t, res, "expected") != expected {
		t.Errorf("received %v of %v, want %v", got, num(t, res, "expected"), expected)
	}
	p50, p99, mx := num(t, res, "latency_ms", "p50"), num(t, res, "latency_ms", "p99"), num(t, res, "latency_ms", "max")
	if !(p50 > 0 && p50 <= p99 && p99 <= mx && mx < 5000) {
		t.Errorf("implausible latency p50 %v p99 %v max %v", p50, p99, mx)
	}
	if num(t, res, "delivered_per_s") <= 0 || num(t, res, "tool_cpu_pct") <= 0 {
		t.Errorf("no delivery rate or tool CPU reported")
	}
	if _, ok := res["server_cpu_pct"]; !ok {
		t.Errorf("no server CPU reported")
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
	})
	t.Run("channels", func(t *testing.T) {
		res := benchRun(t, s, 10*time.Second, "channels", "--clients", "10", "--rate", "10",
			"--duration", "1s", "--warmup", "500ms", "--drain", "3s")
		checkStream(t, res, 10*10)
		if num(t, res, "connections") != 20 {
			t.Errorf("connections %v, want 20", num(t, res, "connections"))
		}
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
