//go:build integration

package integration

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

var benchKey = store.Key{Tenant: "acme", Room: "bench", Channel: "main"}

// benchStore returns a store on the shared Redis under a prefix of its own,
// with the server defaults for history length and timeout.
func benchStore(b *testing.B) *redisstore.Store {
	b.Helper()
	srv := redistest.Redis(b)
	s, err := redisstore.New(redisstore.Options{URL: srv.URL(), KeyPrefix: srv.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// reportLatency adds the median and 99th percentile of the measured calls,
// in microseconds, to the benchmark's output.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkRedisAppend measures one append (the Lua script: XADD with
// MAXLEN ~, the id index and its trimming) on a real Redis, one call at a
// time: ns/op is the latency of a persisted publish's storage step.
func BenchmarkRedisAppend(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	m := storetest.Msg(benchKey, 1)
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		began := time.Now()
		if err := s.Append(ctx, benchKey, m); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(began))
	}
	reportLatency(b, lat)
}

// BenchmarkRedisHistory50 measures the history command's default page: the
// newest 50 of a 1000-message stream, decoded.
func BenchmarkRedisHistory50(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for i := range 1000 {
		if err := s.Append(ctx, benchKey, storetest.Msg(benchKey, i)); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		began := time.Now()
		p, err := s.History(ctx, benchKey, store.Query{Limit: 50})
		if err != nil || len(p.Messages) != 50 {
			b.Fatal(err, len(p.Messages))
		}
		lat = append(lat, time.Since(began))
	}
	reportLatency(b, lat)
}

// BenchmarkRedisAppendParallel appends to one stream from 8×GOMAXPROCS
// goroutines (a busy room with many publishers): ns/op is the inverse of
// throughput, the percentiles are what each call waited.
func BenchmarkRedisAppendParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		m := storetest.Msg(benchKey, 1)
		mine := make([]time.Duration, 0, 1<<14)
		for pb.Next() {
			began := time.Now()
			if err := s.Append(ctx, benchKey, m); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(began))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	reportLatency(b, lat)
	if e := b.Elapsed(); e > 0 {
		b.ReportMetric(float64(b.N)/e.Seconds(), "appends/s")
	}
}

// BenchmarkStrictRoundTrip is one channels-workload message through an
// in-process server in strict mode on a real Redis: stored before it is
// acknowledged and delivered (testutil.BenchRoundTrips).
func BenchmarkStrictRoundTrip(b *testing.B) {
	srv := redistest.Redis(b)
	testutil.BenchRoundTrips(b, testutil.StartServer(b, testutil.WithRedis(srv.URL(), config.ModeStrict),
		testutil.WithConfig(func(c *config.Config) { c.RateLimitPerSecond = 0 })))
}
