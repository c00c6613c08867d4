package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/client"
)

// startLead is the pause between the end of setup and the first planned
// message, so every publisher goroutine is waiting when the plan begins.
const startLead = 100 * time.Millisecond

// target is a room:channel pair.
type target struct{ room, channel string }

// streamPlan is a publishing workload: publisher j sends to targets[j],
// starting phase(j) after the common start; receiver i is joined to the
// target of publisher listen[i].
type streamPlan struct {
	targets []target
	listen  []int
	phase   func(j int) time.Duration
}

// fanoutPlan: one publisher, every subscriber on its channel.
func fanoutPlan(room string, subscribers int) streamPlan {
	return streamPlan{
		targets: []target{{room, "fanout"}},
		listen:  make([]int, subscribers),
		phase:   func(int) time.Duration { return 0 },
	}
}

// channelsPlan: client i publishes to channel c<i> and its twin receives it;
// start times are spread evenly over one interval so the load is smooth.
func channelsPlan(room string, clients int, rate float64) streamPlan {
	p := streamPlan{targets: make([]target, clients), listen: make([]int, clients)}
	for i := range clients {
		p.targets[i], p.listen[i] = target{room, "c" + strconv.Itoa(i)}, i
	}
	step := time.Duration(float64(time.Second) / rate / float64(clients))
	p.phase = func(j int) time.Duration { return time.Duration(j) * step }
	return p
}

// runStream sets up the plan's connections, publishes on schedule, waits
// for the deliveries (bounded by the drain time) and fills res.
func runStream(ctx context.Context, b *bench, plan streamPlan, res *result) error {
	cfg := b.cfg
	total, warm := cfg.messages()
	sr := &streamResult{
		Publishers: len(plan.targets), Receivers: len(plan.listen), Rate: cfg.rate,
		DurationS: cfg.duration.Seconds(), WarmupS: cfg.warmup.Seconds(), PayloadBytes: cfg.payload,
		Planned: int64(len(plan.targets)) * (total - warm),
	}
	res.streamResult = sr

	if err := b.probe(ctx); err != nil {
		return err
	}
	var (
		latency, lag histogram
		received     atomic.Int64
		ack          acks
	)
	sinks := make([]*sink, len(plan.listen))
	for i := range sinks {
		sinks[i] = newSink(warm, total, &latency, &received)
	}

	setupStart := time.Now()
	setupCtx, cancelSetup := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancelSetup()
	subs, err := connectAll(setupCtx, b.d, len(plan.listen), cfg.concurrency,
		func(i int) func([]byte) { return sinks[i].onFrame },
		func(ctx context.Context, i int, c *client.Client) error {
			t := plan.targets[plan.listen[i]]
			return joinWithin(ctx, c, t)
		})
	var pubs []*client.Client
	if err == nil {
		pubs, err = connectAll(setupCtx, b.d, len(plan.targets), cfg.concurrency,
			func(int) func([]byte) { return ack.onFrame }, nil)
	}
	res.Connections = opened(subs) + opened(pubs)
	res.ConnectS = round3(time.Since(setupStart).Seconds())
	closed := false
	closeConns := func() {
		if !closed {
			closed = true
			closeAll(append(subs, pubs...), 1000)
		}
	}
	defer closeConns()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	var before samples // the server's counters as publishing begins
	if cfg.metricsURL != "" {
		var serr error
		if before, serr = scrape(ctx, cfg.metricsURL); serr != nil {
			res.note("server metrics: %v", serr)
		}
	}

	// The plan: publishing starts at t0; the measurement at t0 + warmup;
	// nothing is waited for after the hard deadline.
	t0 := time.Now().Add(startLead)
	measureStart := t0.Add(cfg.warmup)
	publishEnd := measureStart.Add(cfg.duration).Add(plan.phase(len(plan.targets) - 1))
	hard := publishEnd.Add(cfg.drain)
	runCtx, cancel := context.WithDeadline(ctx, hard)
	defer cancel()

	sent := make([]int64, len(pubs))
	pubErrs := make([]error, len(pubs))
	var wg sync.WaitGroup
	for j, pub := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := schedule{start: t0.Add(plan.phase(j)), rate: cfg.rate}
			n, err := publish(runCtx, pub, j, plan.targets[j], s, total, warm, cfg.payload, &lag)
			sent[j], pubErrs[j] = max(n-warm, 0), err
		}()
	}
	published := make(chan struct{})
	go func() { wg.Wait(); close(published) }()

	_ = realClock{}.Sleep(runCtx, time.Until(measureStart))
	cpuStart := sampleCPU(cfg.serverPID)
	res.Disconnects = map[string]int{}
	pubsCounted := false
	select {
	case <-published:
	case <-runCtx.Done():
		// A publisher blocked in a socket write gives up now; what the
		// server closed before is counted first.
		disconnects(pubs, "pub:", res.Disconnects)
		pubsCounted = true
		for _, p := range pubs {
			_ = p.Conn().Close()
		}
		<-published
	}
	cpuEnd := sampleCPU(cfg.serverPID)
	b.recordCPU(res, cpuStart, cpuEnd)

	for j, n := range sent {
		sr.Sent += n
		if err := pubErrs[j]; err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			res.note("publisher %d stopped: %v", j, err)
		}
	}
	if sr.Sent < sr.Planned {
		res.note("publishers sent %d of %d planned messages before the deadline", sr.Sent, sr.Planned)
	}
	for i := range plan.listen {
		sr.Expected += sent[plan.listen[i]]
	}
	for received.Load() < sr.Expected && runCtx.Err() == nil {
		_ = realClock{}.Sleep(runCtx, 5*time.Millisecond)
	}
	interrupted := ctx.Err() != nil

	disconnects(subs, "sub:", res.Disconnects)
	if !pubsCounted {
		disconnects(pubs, "pub:", res.Disconnects)
	}
	if before != nil && !interrupted {
		// Before the close: closing counts nothing, but a scrape must not
		// wait behind it.
		after, err := scrape(ctx, cfg.metricsURL)
		if err == nil {
			sr.Server, err = counterDeltas(before, after)
		}
		if err != nil {
			res.note("server metrics: %v", err)
		}
	}
	closeConns() // after this the sinks are quiet and may be read

	last := sr.tally(sinks, func(i int) int64 { return sent[plan.listen[i]] })
	if sr.Received > 0 {
		window := max(time.Unix(0, last).Sub(measureStart), cfg.duration)
		sr.DeliveredPerS = round1(float64(sr.Received) / window.Seconds())
	}
	sr.Acked, sr.AckErrors, sr.AckDelivered = ack.n.Load(), ack.errs.Load(), ack.delivered.Load()
	if e := ack.firstErr.Load(); e != nil {
		res.note("first error reply: %s", *e)
	}
	sr.Latency, sr.SendLag = latency.summary(), lag.summary()
	if sr.Loss > 0 && !interrupted {
		res.note("%d deliveries missing %s after publishing ended", sr.Loss, cfg.drain)
	}
	if interrupted {
		return errors.New("interrupted")
	}
	return nil
}

// publish sends publisher j's messages to t on schedule s, each a payload
// of the given size carrying its planned time and sequence number, and
// returns how many it sent. lag records how late the measured ones left.
func publish(ctx context.Context, pub *client.Client, j int, t target, s schedule, total, warm int64,
	size int, lag *histogram) (int64, error) {
	idPrefix := "b" + strconv.Itoa(j) + "-"
	var payload, frame []byte
	recordLag := func(i int64, late time.Duration) {
		if i >= warm {
			lag.Record(late)
		}
	}
	return pace(ctx, s, total, realClock{}, recordLag, func(i int64, planned time.Time) error {
		payload = appendPayload(payload[:0], planned.UnixNano(), i, size)
		frame = messageFrame(frame[:0], idPrefix+strconv.FormatInt(i, 10), t.room, t.channel, payload)
		return pub.SendRaw(websocket.TextMessage, frame)
	})
}

// tally adds up the receivers' counts; expected(i) is how many measured
// messages receiver i should have had. It returns the latest arrival (unix
// ns).
func (sr *streamResult) tally(sinks []*sink, expected func(i int) int64) (last int64) {
	for i, s := range sinks {
		missing := max(expected(i)-s.got, 0)
		sr.Received += s.got
		sr.Loss += missing
		sr.Duplicates += s.dup
		sr.OutOfOrder += s.ooo
		sr.OtherFrames += s.other
		if missing > 0 {
			sr.LossReceivers++
			sr.LossMaxReceiver = max(sr.LossMaxReceiver, missing)
		}
		if s.dup > 0 {
			sr.DupReceivers++
		}
		if s.ooo > 0 {
			sr.OOOReceivers++
		}
		last = max(last, s.last)
	}
	return last
}

// joinWithin joins t, bounded by the setup context and dialTimeout.
func joinWithin(ctx context.Context, c *client.Client, t target) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := c.Join(ctx, t.room, t.channel); err != nil {
		return fmt.Errorf("join %s:%s: %w", t.room, t.channel, err)
	}
	return nil
}

func opened(conns []*client.Client) int {
	n := 0
	for _, c := range conns {
		if c != nil {
			n++
		}
	}
	return n
}
