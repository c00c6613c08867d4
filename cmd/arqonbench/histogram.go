package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, like HDR histograms: values below subCount
// have a bucket each, and every power of two above is cut into subCount
// linear buckets. A bucket is at most 1/subCount of its lower bound wide and
// a value is reported as the bucket's middle, so the error is below 0.4%.
// The whole int64 range of nanoseconds fits in 7424 buckets (58 KiB).
const (
	subBits     = 7
	subCount    = 1 << subBits
	bucketCount = subCount + (64-subBits)*subCount
)

// histogram records durations in nanoseconds. Record is safe for concurrent
// use (one atomic add per value); read it once recording has stopped.
type histogram struct {
	counts [bucketCount]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; overflows only after ~584 years of latency
	max    atomic.Int64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits
	return shift*subCount + int(v>>uint(shift))
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := uint(i/subCount - 1)
	lower := uint64(i%subCount|subCount) << shift
	return lower + (uint64(1)<<shift-1)/2
}

// Record adds one value; negative values count as zero.
func (h *histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.total.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value, exact.
func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average recorded value.
func (h *histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value at quantile q (0..1): the smallest bucket
// holding the ceil(q*n)-th value, never above the exact maximum.
func (h *histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketValue(i)), h.Max())
		}
	}
	return h.Max()
}

// latencySummary is the JSON form of a histogram, in milliseconds.
type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func (h *histogram) summary() *latencySummary {
	if h.Count() == 0 {
		return nil
	}
	return &latencySummary{
		P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// ms converts to milliseconds rounded to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
