package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeTimeout bounds one GET of --metrics-url.
const scrapeTimeout = 5 * time.Second

// sample is one counter, gauge or untyped series of a Prometheus text
// exposition, as the Prometheus parser reads it.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// samples is one scrape.
type samples []sample

// sum adds up every series of the metric name.
func (s samples) sum(name string) float64 {
	var n float64
	for _, x := range s {
		if x.name == name {
			n += x.value
		}
	}
	return n
}

// by adds up the series of the metric name by the value of label.
func (s samples) by(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.name == name {
			out[x.labels[label]] += x.value
		}
	}
	return out
}

// has reports whether the scrape holds a series of the metric name.
func (s samples) has(name string) bool {
	for _, x := range s {
		if x.name == name {
			return true
		}
	}
	return false
}

// scrape reads the server's Prometheus text exposition at url.
func scrape(ctx context.Context, url string) (samples, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	var out samples
	for name, f := range families {
		for _, m := range f.GetMetric() {
			x := sample{name: name, labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				x.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				x.value = m.Counter.GetValue()
			case m.Gauge != nil:
				x.value = m.Gauge.GetValue()
			case m.Untyped != nil:
				x.value = m.Untyped.GetValue()
			default:
				continue // histograms and summaries: nothing here reads them
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// goroutines reads go_goroutines from the server's metrics.
func goroutines(ctx context.Context, url string) (float64, error) {
	s, err := scrape(ctx, url)
	if err != nil {
		return 0, err
	}
	if !s.has("go_goroutines") {
		return 0, fmt.Errorf("GET %s: no go_goroutines", url)
	}
	return s.sum("go_goroutines"), nil
}

// The server counters a publishing run reports the change of.
const (
	metricDelivered    = "arqonbus_messages_delivered_total"
	metricDropped      = "arqonbus_messages_dropped_total"
	metricSlowConsumer = "arqonbus_slow_consumer_disconnects_total"
)

// serverCounts is the change of the server's own counters over a publishing
// run (given --metrics-url), warm-up included: what the server says it
// delivered and dropped, to set beside what the receivers counted. On a
// server no one else uses, delivered equals the acks' delivered sum.
type serverCounts struct {
	Delivered               int64            `json:"delivered"`
	Dropped                 int64            `json:"dropped"`
	DroppedByReason         map[string]int64 `json:"dropped_by_reason,omitempty"` // reasons that moved
	SlowConsumerDisconnects int64            `json:"slow_consumer_disconnects"`
}

// counterDeltas compares two scrapes of the server.
func counterDeltas(before, after samples) (*serverCounts, error) {
	for _, name := range []string{metricDelivered, metricSlowConsumer} {
		if !after.has(name) {
			return nil, fmt.Errorf("the server exposes no %s", name)
		}
	}
	delta := func(a, b float64) int64 { return int64(math.Round(b - a)) }
	c := &serverCounts{
		Delivered:               delta(before.sum(metricDelivered), after.sum(metricDelivered)),
		Dropped:                 delta(before.sum(metricDropped), after.sum(metricDropped)),
		SlowConsumerDisconnects: delta(before.sum(metricSlowConsumer), after.sum(metricSlowConsumer)),
	}
	was := before.by(metricDropped, "reason")
	for reason, v := range after.by(metricDropped, "reason") {
		if d := delta(was[reason], v); d != 0 {
			if c.DroppedByReason == nil {
				c.DroppedByReason = map[string]int64{}
			}
			c.DroppedByReason[reason] = d
		}
	}
	return c, nil
}
