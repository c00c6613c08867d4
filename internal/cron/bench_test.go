//go:build unix

package cron

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/metrics"
)

// The benchmarks below run on the real clock and measure the scheduler
// alone: Fire does nothing (or a fixed spin), not a publish. Each run takes
// seconds of wall time, so run them once each:
//
//	go test -run '^$' -bench BenchmarkCron -benchtime 1x ./internal/cron

const (
	benchJobs     = 10_000          // idle jobs on one node
	benchIdleFor  = 2 * time.Second // idle time over which CPU is measured
	benchRateJobs = 1_000           // jobs firing once a second each: 1,000 firings/s
)

// benchOwners are 100 connections' ids, shared by their jobs as the
// connection's id is on a server.
var benchOwners = func() (ids [100]string) {
	for i := range ids {
		ids[i] = fmt.Sprintf("conn-%03d", i)
	}
	return ids
}()

// benchSpec is a job as a client would schedule it: its own payload bytes
// (the server decodes each request into a fresh slice) and one of 100 owners.
func benchSpec(i int, delay, interval time.Duration, repeat int) Spec {
	return Spec{Owner: benchOwners[i%len(benchOwners)], Tenant: "t1", Room: "room", Channel: "tick",
		Payload: json.RawMessage(fmt.Sprintf(`{"job":%d,"kind":"heartbeat"}`, i)),
		Delay:   delay, Interval: interval, Repeat: repeat}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCronIdle10000 schedules 10,000 jobs an hour away, so none fires,
// and reports the live heap they hold and the process's CPU while they wait:
// the scheduler's goroutine should sleep on one timer until the earliest is
// due.
func BenchmarkCronIdle10000(b *testing.B) {
	for b.Loop() {
		s := New(Options{Fire: func(Job, int) Result { return metrics.CronOK }, Metrics: metrics.New(nil)})
		before := liveHeap()
		for i := range benchJobs {
			if _, err := s.Schedule(benchSpec(i, time.Hour, time.Minute, 10)); err != nil {
				b.Fatal(err)
			}
		}
		after := liveHeap()
		time.Sleep(100 * time.Millisecond) // let the pokes of the scheduling settle
		cpu0, wall0 := cpuTime(b), time.Now()
		time.Sleep(benchIdleFor)
		cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
		if n := s.Len(); n != benchJobs {
			b.Fatalf("%d jobs scheduled, want %d", n, benchJobs)
		}
		b.ReportMetric(float64(after-before)/benchJobs, "bytes/job")
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/wall.Seconds(), "cpu-ms/s-idle")
		runtime.KeepAlive(s)
		s.Close()
	}
}

// BenchmarkCronJitter1000PerSecond runs 1,000 jobs with a 1 s interval and
// first firings spread 1 ms apart over a second, so the scheduler fires
// about once a millisecond, and reports how late firings ran against their
// due time (first firing + (iteration-1) × interval).
func BenchmarkCronJitter1000PerSecond(b *testing.B) {
	b.Run("fire=noop/repeat=5", func(b *testing.B) { benchJitter(b, 5, 0) })
	b.Run("fire=spin20us/repeat=3", func(b *testing.B) { benchJitter(b, 3, 20*time.Microsecond) })
}

func benchJitter(b *testing.B, repeat int, work time.Duration) {
	for b.Loop() {
		total := benchRateJobs * repeat
		late := make([]time.Duration, 0, total)
		done := make(chan struct{})
		s := New(Options{Metrics: metrics.New(nil), Fire: func(j Job, n int) Result {
			// Runs on the scheduler's one goroutine: no lock needed.
			due := j.CreatedAt.Add(j.Delay + time.Duration(n-1)*j.Interval)
			late = append(late, time.Since(due))
			for start := time.Now(); time.Since(start) < work; {
			}
			if len(late) == total {
				close(done)
			}
			return metrics.CronOK
		}})
		// The first firing 100 ms out leaves time to schedule them all.
		for i := range benchRateJobs {
			d := 100*time.Millisecond + time.Duration(i)*time.Second/benchRateJobs
			if _, err := s.Schedule(benchSpec(i, d, time.Second, repeat)); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-done:
		case <-time.After(time.Duration(repeat+5) * time.Second):
			s.Close()
			b.Fatalf("%d of %d firings in time", len(late), total)
		}
		s.Close() // waits for the scheduler's goroutine: late is ours now
		slices.Sort(late)
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		b.ReportMetric(us(late[len(late)/2]), "p50-late-µs")
		b.ReportMetric(us(late[len(late)*99/100]), "p99-late-µs")
		b.ReportMetric(us(late[len(late)-1]), "max-late-µs")
	}
}
