package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// exposition is a server's /metrics at two moments of a run; the first
// carries a HELP line, as a server writes it, for the parser to skip.
var exposition = [2]string{
	"# HELP arqonbus_messages_delivered_total Frames enqueued to subscribers by fan-out.\n" +
		expositionOf(1000, 0, 1, 1, 12),
	expositionOf(6000, 2, 4, 4, 40),
}

// expositionOf is the text a server's /metrics serves with these counters
// and goroutines.
func expositionOf(delivered, rateLimited, slowConsumer, disconnects, goroutines int) string {
	return fmt.Sprintf(`# TYPE arqonbus_messages_delivered_total counter
arqonbus_messages_delivered_total %d
# TYPE arqonbus_messages_dropped_total counter
arqonbus_messages_dropped_total{reason="rate_limited"} %d
arqonbus_messages_dropped_total{reason="slow_consumer"} %d
arqonbus_messages_dropped_total{reason="telemetry_INTERNAL_ERROR"} 0
# TYPE arqonbus_slow_consumer_disconnects_total counter
arqonbus_slow_consumer_disconnects_total %d
go_goroutines %d
`, delivered, rateLimited, slowConsumer, disconnects, goroutines)
}

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

// The scrape is read by the Prometheus parser: labels with escapes, HELP
// and TYPE lines and timestamps are its business, and a body it cannot
// parse is an error, never an empty scrape.
func TestAScrapeKeepsEveryCounterAndGaugeWithItsLabels(t *testing.T) {
	serve := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	got, err := scrape(t.Context(), serve("# TYPE a_total counter\n"+
		`a_total{x="q\"uote",y="back\\slash",z="new\nline"} 3 1700000000000`+"\n"+
		"# TYPE g gauge\ng 12\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := samples{
		{name: "a_total", labels: map[string]string{"x": `q"uote`, "y": `back\slash`, "z": "new\nline"}, value: 3},
		{name: "g", labels: map[string]string{}, value: 12},
	}
	slices.SortFunc(got, func(a, b sample) int { return strings.Compare(a.name, b.name) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scrape = %+v, want %+v", got, want)
	}
	for _, body := range []string{"a{x=\"1\"\n", "a{x=1} 2\n", "a one\n"} {
		if _, err := scrape(t.Context(), serve(body)); err == nil {
			t.Errorf("%q scraped, want an error", body)
		}
	}
}
