package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// writerLine is one line the writer prints on its stdout, in this order:
// its address once it listens, the plan's start once every connection is
// accepted, and its report once the plan is done.
type writerLine struct {
	Addr   string        `json:"addr,omitempty"`
	Start  int64         `json:"start,omitempty"` // unix ns of burst 0's planned time
	Report *writerReport `json:"report,omitempty"`
}

// writerReport is what only the writer can measure. Counts cover the
// measured bursts.
type writerReport struct {
	Sent        int64           `json:"sent"`         // bursts, each written to every live connection
	WriteErrors int64           `json:"write_errors"` // failed writes; their connection is dropped
	FirstError  string          `json:"first_error,omitempty"`
	Burst       *latencySummary `json:"burst_ms,omitempty"` // time to write one frame to every connection
	Lag         *latencySummary `json:"lag_ms,omitempty"`   // how late each burst began
}

// runFloorWriter is the writer side of the floor workload. It pins itself to
// cfg.writerCPU, listens on 127.0.0.1, accepts cfg.clients connections
// (bounded by --connect-timeout), then writes burst after burst on an
// absolute schedule: one frame to every connection, one Write each, all
// from this goroutine — the least a fanout server could do. It begins no
// burst after the plan's deadline but finishes the one it is in, so a
// writer that fell behind leaves no half-written burst to count as loss.
// It stops early when stdin ends (the parent went away).
func runFloorWriter(ctx context.Context, cfg *options, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "arqonbench %s: %s\n", floorWriter, fmt.Sprintf(format, args...))
		return 1
	}
	if cfg.writerCPU >= 0 {
		if err := pinProcess(cfg.writerCPU); err != nil {
			return fail("%v", err)
		}
		// One core: a second P would only spin on it looking for work.
		runtime.GOMAXPROCS(1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	enc := json.NewEncoder(stdout)

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return fail("listen: %v", err)
	}
	conns := make([]net.Conn, 0, cfg.clients)
	var mu sync.Mutex // guards conns against the closer below
	closed := false
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		closed = true
		_ = ln.Close()
		for _, c := range conns {
			_ = c.Close()
		}
	}
	defer closeAll()
	// Closing is how blocked Accept and Write calls give up when ctx ends.
	stopClose := context.AfterFunc(ctx, closeAll)
	defer stopClose()

	if err := enc.Encode(writerLine{Addr: ln.Addr().String()}); err != nil {
		return fail("write address: %v", err)
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(cfg.connectTimeout))
	for len(conns) < cfg.clients {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return fail("interrupted after %d of %d connections", len(conns), cfg.clients)
			}
			return fail("accept: %d of %d connections: %v", len(conns), cfg.clients, err)
		}
		mu.Lock()
		if closed {
			mu.Unlock()
			_ = c.Close()
			return fail("interrupted after %d of %d connections", len(conns), cfg.clients)
		}
		conns = append(conns, c)
		mu.Unlock()
	}
	_ = ln.Close()

	total, warm := cfg.messages()
	t0 := time.Now().Add(startLead)
	hard := t0.Add(cfg.warmup + cfg.duration + cfg.drain)
	if err := enc.Encode(writerLine{Start: t0.UnixNano()}); err != nil {
		return fail("write start: %v", err)
	}
	runCtx, cancelRun := context.WithDeadline(ctx, hard)
	defer cancelRun()
	// A write still blocked this long after the deadline has a reader that
	// stopped reading: it fails, and its connection is dropped.
	for _, c := range conns {
		_ = c.SetWriteDeadline(hard.Add(burstGrace))
	}

	rep := &writerReport{}
	var burst, lag histogram
	dead := make([]bool, len(conns))
	f := newFloorFrame(total, cfg.payload)
	recordLag := func(i int64, late time.Duration) {
		if i >= warm {
			lag.Record(late)
		}
	}
	_, err = pace(runCtx, schedule{start: t0, rate: cfg.rate}, total, realClock{}, recordLag,
		func(i int64, planned time.Time) error {
			frame := f.build(planned, i)
			if i >= warm {
				rep.Sent++
			}
			start := time.Now()
			for k, c := range conns {
				if dead[k] {
					continue
				}
				if _, err := c.Write(frame); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if i >= warm {
						rep.WriteErrors++
					}
					if rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
					dead[k] = true
					_ = c.Close()
				}
			}
			if i >= warm {
				burst.Record(time.Since(start))
			}
			return nil
		})
	if ctx.Err() != nil {
		return fail("interrupted")
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fail("%v", err)
	}
	rep.Burst, rep.Lag = burst.summary(), lag.summary()
	if err := enc.Encode(writerLine{Report: rep}); err != nil {
		return fail("write report: %v", err)
	}
	return 0
}

// pinProcess binds every thread of this process to cpu. sched_setaffinity
// binds one thread, the Go runtime already runs several, and a new thread
// inherits the binding of the thread that creates it: so bind every thread
// listed in /proc/self/task until a pass finds none unbound.
func pinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	pinned := map[int]bool{}
	for range 100 {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("pin to CPU %d: %w", cpu, err)
		}
		fresh := 0
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || pinned[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				if errors.Is(err, unix.ESRCH) { // the thread has ended
					continue
				}
				return fmt.Errorf("pin to CPU %d: %w (is it online and allowed?)", cpu, err)
			}
			pinned[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("pin to CPU %d: threads kept appearing", cpu)
}
