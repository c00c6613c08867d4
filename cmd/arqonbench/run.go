package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"time"
)

// gcPercent is the collector target while a run lasts (unless GOGC is set):
// receivers allocate one buffer per frame, and a larger heap target spends
// less of the tool's core on collection.
const gcPercent = 400

// run is the whole command; main only adds the signal context and exit.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "arqonbench: %v\n", err)
		return 2
	}
	limit, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintf(stderr, "arqonbench: warning: %v\n", err)
	}
	if need := uint64(cfg.connections()) + 64; limit > 0 && need > limit {
		fmt.Fprintf(stderr, "arqonbench: %d connections need about %d open files; the limit is %d\n",
			cfg.connections(), need, limit)
		return 2
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	}
	if cfg.workload == floorWriter {
		return runFloorWriter(ctx, cfg, stdin, stdout, stderr)
	}

	start := time.Now()
	b := newBench(cfg)
	res := &result{Workload: cfg.workload, Target: cfg.url, FileLimit: limit}
	switch cfg.workload {
	case "fanout":
		err = runStream(ctx, b, fanoutPlan(b.room, cfg.clients), res)
	case "channels":
		err = runStream(ctx, b, channelsPlan(b.room, cfg.clients, cfg.rate), res)
	case "idle":
		err = runIdle(ctx, b, res)
	case "floor":
		err = runFloor(ctx, b, res)
	case "tasks":
		err = runTasks(ctx, b, res)
	}
	res.ElapsedS = round3(time.Since(start).Seconds())
	res.Completed = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	writeSummary(stderr, res)
	if cfg.json {
		if werr := writeJSON(stdout, res); werr != nil {
			fmt.Fprintf(stderr, "arqonbench: write result: %v\n", werr)
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// bench is what every workload shares.
type bench struct {
	cfg  *options
	d    *dialer
	room string
}

func newBench(cfg *options) *bench {
	room := cfg.room
	if room == "" {
		room = fmt.Sprintf("arqonbench-%08x", rand.Uint32())
	}
	d := &dialer{url: cfg.url, token: cfg.token, retries: cfg.retries, readBuf: 16 << 10}
	if cfg.spread {
		d.sources = cfg.sources
	}
	if cfg.workload == "idle" {
		d.readBuf = 4 << 10
	}
	return &bench{cfg: cfg, d: d, room: room}
}

// errUnreachable marks a target that did not answer at all.
var errUnreachable = errors.New("target unreachable")

// probe opens and closes one connection so an absent server is one clear
// error rather than a storm of failed dials.
func (b *bench) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.connectTimeout)
	defer cancel()
	c, err := b.d.dial(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUnreachable, b.cfg.url, err)
	}
	_ = c.Close()
	return nil
}

// recordCPU fills the CPU shares over [a, b] and the server's RSS now.
func (b *bench) recordCPU(res *result, a, z cpuSample) {
	tool, server := cpuShares(a, z)
	res.ToolCPUPct = tool
	res.CoreBusyPct, res.CoreIRQPct = coreShares(a, z)
	if server >= 0 {
		res.ServerCPUPct = &server
	}
	if b.cfg.serverPID > 0 {
		if rss, err := procRSS(b.cfg.serverPID); err == nil {
			res.ServerRSSKiB = &rss
		} else {
			res.note("server RSS: %v", err)
		}
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
