package testutil

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// text is m's registry as GET /metrics writes it.
func text(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		require.NoError(t, enc.Encode(f))
	}
	return b.String()
}

func sampleMetrics() *metrics.Metrics {
	m := metrics.New(nil)
	m.Commands.WithLabelValues("ping", "success").Add(2)
	m.Errors.WithLabelValues(`odd "code" \ here`).Inc()
	m.PublishDuration.Observe(0.003)
	m.StorageDegraded.Set(1)
	return m
}

func TestSeriesKeysEverySampleAsTheTextFormatWritesIt(t *testing.T) {
	body := text(t, sampleMetrics())
	got := ParseExposition(t, body).Series()
	lines := 0
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, "arqonbus_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		want, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		v, ok := got[line[:i]]
		assert.True(t, ok, "no series %s", line[:i])
		assert.Equal(t, want, v, line)
		lines++
	}
	assert.Greater(t, lines, 20, "control: the exposition has histogram buckets and labelled series")
	assert.Len(t, got, lines, "Series holds nothing the text does not")
}

func TestValueReadsOneSeriesByItsLabelValues(t *testing.T) {
	e := ParseExposition(t, text(t, sampleMetrics()))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
		ok     bool
	}{
		{"commands_total", []string{"ping", "success"}, 2, true},
		{"commands_total", []string{"ping", "INTERNAL_ERROR"}, 0, false},
		{"storage_degraded", nil, 1, true},
		{"publish_duration_seconds", nil, 1, true}, // a histogram reads as its count
		{"no_such_metric", nil, 0, false},
	} {
		v, ok := e.Value(c.name, c.labels...)
		assert.Equal(t, c.ok, ok, "%s %v", c.name, c.labels)
		assert.Equal(t, c.want, v, "%s %v", c.name, c.labels)
	}
	assert.Equal(t, 2.0, e.Get(t, "commands_total", "ping", "success"))
}

func TestPollReportsWhetherTheConditionHeldInTime(t *testing.T) {
	calls := 0
	assert.True(t, Poll(5*time.Second, func() bool { calls++; return calls == 3 }))
	assert.Equal(t, 3, calls, "it stops at the first success")

	calls = 0
	began := time.Now()
	assert.False(t, Poll(50*time.Millisecond, func() bool { calls++; return false }))
	assert.GreaterOrEqual(t, time.Since(began), 50*time.Millisecond)
	assert.Greater(t, calls, 2, "it checks again until the deadline, and once at it")
}
