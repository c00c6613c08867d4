package main

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// exposition is a server's /metrics at two moments of a run.
var exposition = [2]string{`# HELP arqonbus_messages_delivered_total Frames enqueued to subscribers by fan-out.
# TYPE arqonbus_messages_delivered_total counter
arqonbus_messages_delivered_total 1000
# TYPE arqonbus_messages_dropped_total counter
arqonbus_messages_dropped_total{reason="rate_limited"} 0
arqonbus_messages_dropped_total{reason="slow_consumer"} 1
arqonbus_messages_dropped_total{reason="telemetry_INTERNAL_ERROR"} 0
# TYPE arqonbus_slow_consumer_disconnects_total counter
arqonbus_slow_consumer_disconnects_total 1
go_goroutines 12
`, `# TYPE arqonbus_messages_delivered_total counter
arqonbus_messages_delivered_total 6000
# TYPE arqonbus_messages_dropped_total counter
arqonbus_messages_dropped_total{reason="rate_limited"} 2
arqonbus_messages_dropped_total{reason="slow_consumer"} 4
arqonbus_messages_dropped_total{reason="telemetry_INTERNAL_ERROR"} 0
# TYPE arqonbus_slow_consumer_disconnects_total counter
arqonbus_slow_consumer_disconnects_total 4
go_goroutines 40
`}

// metricsServer serves exposition[0] on the first GET and exposition[1]
// on every later one.
func metricsServer(t *testing.T) string {
	t.Helper()
	var calls atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := min(int(calls.Add(1))-1, 1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition[i]))
	}))
	t.Cleanup(s.Close)
	return s.URL + "/metrics"
}

func TestServerCountersAreTheChangeBetweenTwoScrapes(t *testing.T) {
	url := metricsServer(t)
	before, err := scrape(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	after, err := scrape(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	got, err := counterDeltas(before, after)
	if err != nil {
		t.Fatal(err)
	}
	want := &serverCounts{
		Delivered: 5000, Dropped: 5, SlowConsumerDisconnects: 3,
		DroppedByReason: map[string]int64{"rate_limited": 2, "slow_consumer": 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deltas %+v, want %+v", got, want)
	}
	var sb strings.Builder
	writeSummary(&sb, &result{Workload: "fanout", streamResult: &streamResult{Server: got}})
	if line := "server counters (warm-up included): delivered 5000, dropped 5 (rate_limited 2, slow_consumer 3), slow-consumer disconnects 3"; !strings.Contains(sb.String(), line) {
		t.Errorf("summary lacks %q:\n%s", line, sb.String())
	}
}

func TestGoroutinesAreReadFromTheSameScrape(t *testing.T) {
	g, err := goroutines(t.Context(), metricsServer(t))
	if err != nil || g != 12 {
		t.Fatalf("goroutines %v (err %v), want 12", g, err)
	}
}

func TestAScrapeThatCannotBeUsedIsAnError(t *testing.T) {
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer fail.Close()
	if _, err := scrape(t.Context(), fail.URL); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("HTTP 500: err %v", err)
	}
	if _, err := counterDeltas(nil, samples{{name: "go_goroutines", value: 1}}); err == nil ||
		!strings.Contains(err.Error(), metricDelivered) {
		t.Errorf("a server without the counters: err %v, want it named", err)
	}
}

func TestSampleLinesAreParsedWithTheirLabels(t *testing.T) {
	cases := []struct {
		line string
		want sample
	}{
		{`go_goroutines 12`, sample{name: "go_goroutines", value: 12}},
		{`a_total{reason="x"} 3 1700000000000`, sample{name: "a_total", labels: map[string]string{"reason": "x"}, value: 3}},
		{`a{x="q\"uote",y="back\\slash",z="new\nline"} 1`, sample{name: "a",
			labels: map[string]string{"x": `q"uote`, "y": `back\slash`, "z": "new\nline"}, value: 1}},
		{`a{x="} 1",} 2`, sample{name: "a", labels: map[string]string{"x": "} 1"}, value: 2}},
		{`h_bucket{le="+Inf"} 7`, sample{name: "h_bucket", labels: map[string]string{"le": "+Inf"}, value: 7}},
	}
	for _, c := range cases {
		got, err := parseSample(c.line)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v (err %v), want %+v", c.line, got, err, c.want)
		}
	}
	for _, line := range []string{`a`, `a{x="1"`, `a{x=1} 2`, `a one`, `a 1 2 3`} {
		if _, err := parseSample(line); err == nil {
			t.Errorf("%q parsed, want an error", line)
		}
	}
}
