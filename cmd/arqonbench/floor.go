package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// burstGrace bounds how long the writer may take to finish a burst it
	// began before the plan's deadline; a write blocked longer fails.
	burstGrace = 2 * time.Second
	// settle is how long readers get, after the writer's report, to read a
	// burst that ended after the plan's deadline.
	settle = 500 * time.Millisecond
	// writerGrace bounds how long the writer may take past the plan's
	// deadline to report, and to exit once told to.
	writerGrace = burstGrace + 3*time.Second
)

// runFloor measures the kernel's floor for fanout: a writer process (this
// binary as floor-writer) writes one server-sized frame to each of
// cfg.clients plain TCP connections per burst, one write each, and this
// process reads them, one goroutine per connection, exactly as for fanout:
// latency from each burst's planned time, loss, duplicates, order.
func runFloor(ctx context.Context, b *bench, res *result) error {
	cfg := b.cfg
	total, warm := cfg.messages()
	f := newFloorFrame(total, cfg.payload)
	size, header := f.layout()
	sr := &streamResult{
		Publishers: 1, Receivers: cfg.clients, Rate: cfg.rate,
		DurationS: cfg.duration.Seconds(), WarmupS: cfg.warmup.Seconds(), PayloadBytes: f.size,
		Planned: total - warm,
	}
	fr := &floorResult{WriterCPU: cfg.writerCPU, FrameBytes: size}
	res.streamResult, res.floorResult = sr, fr
	res.Target = "tcp://127.0.0.1 (no server)"
	noteSharedCPU(res, cfg.writerCPU)

	w, err := startWriter(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.stop()
	fr.WriterPID = w.cmd.Process.Pid
	line, err := w.next(ctx, time.Now().Add(cfg.connectTimeout))
	if err != nil {
		return err
	}
	res.Target = "tcp://" + line.Addr + " (no server)"

	var (
		latency  histogram
		received atomic.Int64
		readers  sync.WaitGroup
	)
	sinks := make([]*sink, cfg.clients)
	conns := make([]net.Conn, cfg.clients)
	for i := range sinks {
		sinks[i] = newSink(warm, total, &latency, &received)
	}
	setupStart := time.Now()
	setupCtx, cancelSetup := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancelSetup()
	err = forEach(setupCtx, cfg.clients, cfg.concurrency, func(ctx context.Context, i int) error {
		c, err := b.d.dialTCP(ctx, line.Addr)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = c
		readers.Add(1)
		go func() {
			defer readers.Done()
			readFrames(c, size, header, sinks[i])
		}()
		return nil
	})
	for _, c := range conns {
		if c != nil {
			res.Connections++
		}
	}
	res.ConnectS = round3(time.Since(setupStart).Seconds())
	// After closeConns the sinks are quiet and may be read.
	closeConns := sync.OnceFunc(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		readers.Wait()
	})
	defer closeConns()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if line, err = w.next(ctx, time.Now().Add(cfg.connectTimeout)); err != nil {
		return err
	}

	// The writer's plan: bursts from t0, measured from t0 + warmup, nothing
	// waited for after the hard deadline (the writer begins no burst after
	// it) but the settling of a burst that ended past it.
	t0 := time.Unix(0, line.Start)
	measureStart := t0.Add(cfg.warmup)
	hard := measureStart.Add(cfg.duration + cfg.drain)
	runCtx, cancel := context.WithDeadline(ctx, hard)
	defer cancel()
	_ = realClock{}.Sleep(runCtx, time.Until(measureStart))
	cpuStart := sampleCPU(fr.WriterPID)
	line, err = w.next(ctx, hard.Add(writerGrace))
	cpuEnd := sampleCPU(fr.WriterPID)
	if err != nil {
		return err
	}
	rep := line.Report
	if rep == nil {
		return errors.New("writer: no report where one was due")
	}
	tool, writer := cpuShares(cpuStart, cpuEnd)
	res.ToolCPUPct = tool
	if writer >= 0 {
		fr.WriterCPUPct = &writer
	}
	res.CoreBusyPct, res.CoreIRQPct = coreShares(cpuStart, cpuEnd)

	sr.Sent, fr.WriteErrors = rep.Sent, rep.WriteErrors
	if rep.FirstError != "" {
		res.note("first write error: %s", rep.FirstError)
	}
	if sr.Sent < sr.Planned {
		res.note("the writer began %d of %d planned bursts before the deadline", sr.Sent, sr.Planned)
	}
	sr.Expected = sr.Sent * int64(cfg.clients)
	if now := time.Now(); now.After(hard) { // the last burst ended after the deadline
		cancel()
		runCtx, cancel = context.WithDeadline(ctx, now.Add(settle))
		defer cancel()
	}
	for received.Load() < sr.Expected && runCtx.Err() == nil {
		_ = realClock{}.Sleep(runCtx, 5*time.Millisecond)
	}
	interrupted := ctx.Err() != nil
	closeConns()

	last := sr.tally(sinks, func(int) int64 { return sr.Sent })
	if sr.Received > 0 {
		window := max(time.Unix(0, last).Sub(measureStart), cfg.duration)
		sr.DeliveredPerS = round1(float64(sr.Received) / window.Seconds())
	}
	sr.Latency, sr.SendLag, fr.WriterBurst = latency.summary(), rep.Lag, rep.Burst
	if sr.Loss > 0 && !interrupted {
		res.note("%d deliveries missing when the run ended", sr.Loss)
	}
	if interrupted {
		return errInterrupted
	}
	if err := w.stop(); err != nil {
		res.note("writer: %v", err)
	}
	return nil
}

// readFrames reads fixed-size frames from c into s until c fails or
// closes. A frame that does not start with the expected header means the
// stream is out of step: it is counted as another frame and reading stops.
func readFrames(c net.Conn, size int, header []byte, s *sink) {
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if !bytes.HasPrefix(buf, header) {
			s.other++
			return
		}
		s.onFrame(buf[len(header):])
	}
}

// noteSharedCPU warns when the writer may share a CPU with this process:
// the floor is only the writer's if its core is its own.
func noteSharedCPU(res *result, cpu int) {
	if cpu < 0 {
		res.note("the writer is not pinned: it may share CPUs with the readers")
		return
	}
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.IsSet(cpu) {
		res.note("the readers may run on CPU %d, the writer's; pin them elsewhere (taskset -c)", cpu)
	}
}

// writerArgs is the command line of the writer for cfg.
func writerArgs(cfg *options) []string {
	return []string{floorWriter,
		"--connections", strconv.Itoa(cfg.clients),
		"--rate", strconv.FormatFloat(cfg.rate, 'g', -1, 64),
		"--duration", cfg.duration.String(),
		"--warmup", cfg.warmup.String(),
		"--drain", cfg.drain.String(),
		"--payload", strconv.Itoa(cfg.payload),
		"--writer-cpu", strconv.Itoa(cfg.writerCPU),
		"--connect-timeout", cfg.connectTimeout.String(),
	}
}

// writerProc is the running writer: its stdout lines arrive on lines, its
// stdin stays open while this process wants it to run.
type writerProc struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	lines  chan writerLine // closed when stdout ends
	quit   chan struct{}   // closed by stop: the line reader stops sending
	stderr bytes.Buffer    // read only after Wait
	kill   context.CancelFunc

	stopOnce sync.Once
	waitErr  error
}

// startWriter starts this binary as the writer. Its life is bounded: it is
// killed when ctx ends, and at the latest when every phase has used its
// whole bound.
func startWriter(ctx context.Context, cfg *options) (*writerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("writer: find this binary: %w", err)
	}
	bound := 2*cfg.connectTimeout + startLead + cfg.warmup + cfg.duration + cfg.drain + 2*writerGrace
	pctx, kill := context.WithTimeout(ctx, bound)
	w := &writerProc{lines: make(chan writerLine), quit: make(chan struct{}), kill: kill}
	w.cmd = exec.CommandContext(pctx, exe, writerArgs(cfg)...)
	w.cmd.Stderr = &w.stderr
	w.cmd.WaitDelay = writerGrace
	stdin, err := w.cmd.StdinPipe()
	if err != nil {
		kill()
		return nil, fmt.Errorf("writer: %w", err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		kill()
		return nil, fmt.Errorf("writer: %w", err)
	}
	if err := w.cmd.Start(); err != nil {
		kill()
		return nil, fmt.Errorf("writer: start %s: %w", exe, err)
	}
	w.stdin = stdin
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l writerLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			select {
			case w.lines <- l:
			case <-w.quit:
				return
			}
		}
	}()
	return w, nil
}

// errInterrupted ends a run whose context ended.
var errInterrupted = errors.New("interrupted")

// next waits for the writer's next line until deadline. Its errors say
// what became of the writer, except errInterrupted.
func (w *writerProc) next(ctx context.Context, deadline time.Time) (writerLine, error) {
	wait := time.Until(deadline)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l, ok := <-w.lines:
		if ok {
			return l, nil
		}
		err := w.stop()
		msg := strings.TrimSpace(w.stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if err == nil {
			err = errors.New("ended early")
		}
		if msg != "" {
			return writerLine{}, fmt.Errorf("writer: %v: %s", err, msg)
		}
		return writerLine{}, fmt.Errorf("writer: %w", err)
	case <-ctx.Done():
		return writerLine{}, errInterrupted
	case <-t.C:
		return writerLine{}, fmt.Errorf("writer: no answer within %v", wait.Round(time.Millisecond))
	}
}

// stop ends the writer and waits for it: closing its stdin tells it to
// stop, and it is killed if it has not exited writerGrace later. It returns
// the writer's exit error, the same on every call.
func (w *writerProc) stop() error {
	w.stopOnce.Do(func() {
		close(w.quit)
		_ = w.stdin.Close()
		t := time.AfterFunc(writerGrace, w.kill)
		for range w.lines { // stdout ends when the writer exits
		}
		w.waitErr = w.cmd.Wait()
		t.Stop()
		w.kill()
	})
	return w.waitErr
}
