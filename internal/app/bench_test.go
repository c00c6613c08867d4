package app_test

import (
	"testing"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// BenchmarkRoundTrip is one channels-workload message through the whole
// in-process server, without persistence (testutil.BenchRoundTrips).
func BenchmarkRoundTrip(b *testing.B) {
	testutil.BenchRoundTrips(b, testutil.StartServer(b, testutil.WithConfig(func(c *config.Config) {
		c.RateLimitPerSecond = 0
		c.EnablePersistence = false
	})))
}
