package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestThePolicyRunsWithTheProductionProbeTimingByDefault pins what a node
// gets when it sets no intervals (the tests that exercise the probe run it
// every millisecond): a healthy primary is pinged every second, so /readyz
// shows an outage within a second (docs/runbook.md); after a failure the
// first probe comes 250 ms later and the backoff never waits more than a
// second, so a recovery shows within about a second too.
func TestThePolicyRunsWithTheProductionProbeTimingByDefault(t *testing.T) {
	assert.Equal(t, 250*time.Millisecond, DefaultProbeInterval)
	assert.Equal(t, time.Second, DefaultMaxProbeInterval)
	assert.Equal(t, time.Second, DefaultHealthInterval)

	for _, c := range []struct {
		name string
		o    PolicyOptions
	}{
		{"intervals left at zero", PolicyOptions{}},
		{"negative intervals", PolicyOptions{ProbeInterval: -1, MaxProbeInterval: -1, HealthInterval: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := NewPolicy(c.o)
			assert.Equal(t, DefaultProbeInterval, p.probeMin, "first probe after a failure")
			assert.Equal(t, DefaultMaxProbeInterval, p.probeMax, "backoff cap")
			assert.Equal(t, DefaultHealthInterval, p.health, "pings of a healthy primary")
		})
	}

	d, waits := DefaultProbeInterval, []time.Duration{DefaultProbeInterval}
	for range 3 {
		d = nextDelay(d, DefaultMaxProbeInterval)
		waits = append(waits, d)
	}
	assert.Equal(t, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second}, waits,
		"the probe's waits after a failure")
}

func TestTheBackoffCapIsNeverBelowTheFirstProbe(t *testing.T) {
	p := NewPolicy(PolicyOptions{ProbeInterval: 3 * time.Second, MaxProbeInterval: time.Second})
	assert.Equal(t, 3*time.Second, p.probeMin)
	assert.Equal(t, 3*time.Second, p.probeMax, "a cap below the first probe is raised to it")

	p = NewPolicy(PolicyOptions{ProbeInterval: 5 * time.Millisecond, MaxProbeInterval: 40 * time.Millisecond, HealthInterval: time.Minute})
	assert.Equal(t, 5*time.Millisecond, p.probeMin, "given intervals are kept")
	assert.Equal(t, 40*time.Millisecond, p.probeMax)
	assert.Equal(t, time.Minute, p.health)
}
