package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramQuantilesAreWithinOnePercentOnKnownDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() time.Duration{
		"uniform 0..10ms":        func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) },
		"exponential mean 2ms":   func() time.Duration { return time.Duration(rng.ExpFloat64() * 2e6) },
		"lognormal around 500us": func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64() + math.Log(5e5))) },
		"bimodal 100us and 40ms": func() time.Duration {
			if rng.IntN(100) < 3 {
				return 40*time.Millisecond + time.Duration(rng.Int64N(1e6))
			}
			return 100*time.Microsecond + time.Duration(rng.Int64N(1e4))
		},
	}
	for name, draw := range dists {
		t.Run(name, func(t *testing.T) {
			var h histogram
			values := make([]time.Duration, 200_000)
			for i := range values {
				values[i] = draw()
				h.Record(values[i])
			}
			slices.Sort(values)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				want, got := exactQuantile(values, q), h.Quantile(q)
				if diff := math.Abs(float64(got-want)) / float64(want); diff > 0.01 {
					t.Errorf("q%g: got %v, want %v (off by %.2f%%)", q, got, want, 100*diff)
				}
			}
			if h.Max() != values[len(values)-1] {
				t.Errorf("max: got %v, want %v", h.Max(), values[len(values)-1])
			}
			if h.Count() != uint64(len(values)) {
				t.Errorf("count: got %d, want %d", h.Count(), len(values))
			}
		})
	}
}

func TestHistogramBucketsCoverEveryValueWithSmallRelativeError(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 1000, 123456789, 1 << 40, math.MaxInt64} {
		b := bucketOf(v)
		if b < 0 || b >= bucketCount {
			t.Fatalf("value %d: bucket %d out of range", v, b)
		}
		mid := bucketValue(b)
		if v > 0 && math.Abs(float64(mid)-float64(v))/float64(v) > 1.0/subCount {
			t.Errorf("value %d: bucket middle %d is too far", v, mid)
		}
	}
}

func TestHistogramIsSafeForConcurrentRecording(t *testing.T) {
	var h histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	if h.Count() != 8000 || h.Max() != 7999 {
		t.Fatalf("count %d max %v, want 8000 and 7.999µs", h.Count(), h.Max())
	}
}

func TestEmptyHistogramHasNoSummary(t *testing.T) {
	var h histogram
	if h.summary() != nil || h.Quantile(0.99) != 0 {
		t.Fatal("an empty histogram reported values")
	}
}
