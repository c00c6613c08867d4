package testutil

import (
	"math"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Exposition is a Prometheus text exposition (a GET /metrics body) read by
// the Prometheus parser, so a test sees what a scraper sees. Server.Counter
// reads an in-process server's registry instead; an Exposition is for the
// binary, app.Run and anything else reached over HTTP.
type Exposition map[string]*dto.MetricFamily

// ParseExposition parses a /metrics body; one that does not parse fails t.
func ParseExposition(t testing.TB, body string) Exposition {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the metrics exposition: %v", err)
	}
	return Exposition(families)
}

// Value reads one series of an arqonbus metric, named as for Server.Counter:
// without the arqonbus_ prefix, with its label values in order (a histogram
// reads as its sample count). ok is false when no such series is exposed.
func (e Exposition) Value(name string, labels ...string) (v float64, ok bool) {
	f := e["arqonbus_"+name]
	for _, m := range f.GetMetric() {
		if labelsMatch(m.GetLabel(), labels) {
			return sampleValue(m), true
		}
	}
	return 0, false
}

// Get is Value for a series the test needs: one that is not exposed fails
// t (a misspelt name would otherwise read as 0).
func (e Exposition) Get(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := e.Value(name, labels...)
	if !ok {
		t.Fatalf("the exposition has no series arqonbus_%s with labels %q", name, labels)
	}
	return v
}

// sampleValue is a counter's, gauge's or untyped series' value, or a
// histogram's sample count.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// Series returns every arqonbus_ series keyed as the text format writes it,
// name{label="value",...} (a histogram as its _bucket{...,le="..."}, _sum
// and _count series), for tests that compare whole scrapes or match the
// selectors of the runbook's alert expressions.
func (e Exposition) Series() map[string]float64 {
	out := map[string]float64{}
	for name, f := range e {
		if !strings.HasPrefix(name, "arqonbus_") {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				out[seriesKey(name, m.GetLabel(), "")] = sampleValue(m)
				continue
			}
			for _, b := range h.GetBucket() {
				out[seriesKey(name+"_bucket", m.GetLabel(), formatLe(b.GetUpperBound()))] = float64(b.GetCumulativeCount())
			}
			out[seriesKey(name+"_bucket", m.GetLabel(), "+Inf")] = float64(h.GetSampleCount())
			out[seriesKey(name+"_sum", m.GetLabel(), "")] = h.GetSampleSum()
			out[seriesKey(name+"_count", m.GetLabel(), "")] = float64(h.GetSampleCount())
		}
	}
	return out
}

// seriesKey spells a series as the text format does; le, when set, is the
// last label (a histogram bucket's bound).
func seriesKey(name string, labels []*dto.LabelPair, le string) string {
	var pairs []string
	for _, l := range labels {
		pairs = append(pairs, l.GetName()+`="`+escapeLabel(l.GetValue())+`"`)
	}
	if le != "" {
		pairs = append(pairs, `le="`+le+`"`)
	}
	if len(pairs) == 0 {
		return name
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// escapeLabel escapes a label value as the text format does.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// formatLe writes a bucket bound as the text format does.
func formatLe(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
