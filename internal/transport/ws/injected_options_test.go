package ws

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// The metrics registry and the clock a caller injects are the ones the
// server uses; left nil, they are filled with working stand-ins.
func TestTheServerUsesTheInjectedMetricsAndClock(t *testing.T) {
	t.Run("injected", func(t *testing.T) {
		m := metrics.New(nil)
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		s := NewServer(testOptions(func(o *Options) {
			o.Metrics = m
			o.Clock = func() time.Time { return at }
		}))
		assert.Same(t, m, s.o.Metrics)
		assert.Equal(t, at, s.o.Clock())
	})
	t.Run("left nil", func(t *testing.T) {
		s := NewServer(testOptions(func(o *Options) {
			o.Metrics = nil
			o.Clock = nil
		}))
		require.NotNil(t, s.o.Metrics)
		require.NotNil(t, s.o.Clock)
		assert.WithinDuration(t, time.Now(), s.o.Clock(), time.Minute)
	})
}
