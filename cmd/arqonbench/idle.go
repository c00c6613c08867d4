package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
)

// runIdle opens cfg.clients connections, each joined to its own channel,
// holds them, and measures what they cost the server: RSS (VmRSS before
// the first connection and after the last, given --server-pid) and
// goroutines (given --metrics-url), per connection. RSS before is only
// meaningful on a fresh server: Go keeps freed memory for a while.
func runIdle(ctx context.Context, b *bench, res *result) error {
	cfg := b.cfg
	ir := &idleResult{HoldS: cfg.hold.Seconds()}
	res.idleResult = ir
	if cfg.serverPID > 0 {
		if rss, err := procRSS(cfg.serverPID); err == nil {
			ir.RSSBeforeKiB = &rss
		} else {
			res.note("server RSS: %v", err)
		}
	}
	if cfg.metricsURL != "" {
		if g, err := goroutines(ctx, cfg.metricsURL); err == nil {
			ir.GoroutinesBefore = &g
		} else {
			res.note("goroutines: %v", err)
		}
	}
	if err := b.probe(ctx); err != nil {
		return err
	}

	var frames atomic.Int64
	count := func([]byte) { frames.Add(1) }
	cpuStart := sampleCPU(cfg.serverPID)
	setupCtx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	conns, err := connectAll(setupCtx, b.d, cfg.clients, cfg.concurrency,
		func(int) func([]byte) { return count },
		func(ctx context.Context, i int, c *client.Client) error {
			return joinWithin(ctx, c, target{b.room, "c" + strconv.Itoa(i)})
		})
	res.ConnectS = round3(time.Since(cpuStart.wall).Seconds())
	res.Connections = opened(conns)
	b.recordCPU(res, cpuStart, sampleCPU(cfg.serverPID))
	defer closeAll(conns, 1000)
	if err != nil {
		return fmt.Errorf("setup: %d of %d connected: %w", res.Connections, cfg.clients, err)
	}

	// Hold: the server's per-connection writers linger briefly after the
	// joins; measure the settled, idle state.
	if err := (realClock{}).Sleep(ctx, cfg.hold); err != nil {
		return fmt.Errorf("interrupted")
	}
	res.Disconnects = map[string]int{}
	disconnects(conns, "conn:", res.Disconnects)
	for _, n := range res.Disconnects {
		ir.Dropped += n
	}
	perConn := func(before, after float64) *float64 {
		v := math.Round(100*(after-before)/float64(cfg.clients)) / 100
		return &v
	}
	if cfg.serverPID > 0 {
		if rss, err := procRSS(cfg.serverPID); err == nil {
			ir.RSSAfterKiB = &rss
			res.ServerRSSKiB = &rss
			if ir.RSSBeforeKiB != nil {
				ir.RSSPerConnKiB = perConn(float64(*ir.RSSBeforeKiB), float64(rss))
			}
		}
	}
	if cfg.metricsURL != "" {
		if g, err := goroutines(ctx, cfg.metricsURL); err == nil {
			ir.GoroutinesAfter = &g
			if ir.GoroutinesBefore != nil {
				ir.GoroutinesPerConn = perConn(*ir.GoroutinesBefore, g)
			}
		} else {
			res.note("goroutines: %v", err)
		}
	}
	if n := frames.Load(); n > 0 {
		res.note("idle connections received %d unexpected frames", n)
	}
	return nil
}
