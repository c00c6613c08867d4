package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Policy defaults.
const (
	DefaultProbeInterval    = 250 * time.Millisecond // first probe after a failure
	DefaultHealthInterval   = time.Second            // pings of a healthy primary
	DefaultMaxProbeInterval = time.Second            // backoff cap between probes
)

var (
	_ Store   = (*Policy)(nil)
	_ Locator = (*Policy)(nil)
)

// PolicyOptions configures NewPolicy.
type PolicyOptions struct {
	// Mode is config.ModeStrict or config.ModeDegraded (the default).
	Mode string
	// Backend is reported in Health (config.BackendMemory or
	// config.BackendRedis).
	Backend string
	// Primary is the configured backend. Required; a Redis store may be
	// created while Redis is down (go-redis connects lazily).
	Primary Store
	// Fallback takes writes while the primary is away in degraded mode
	// (a memstore). Without one, degraded-mode failures are returned to the
	// caller as in strict mode, though the state still reads "degraded".
	Fallback Store
	// Logger gets one WARN line per state change. Default: none.
	Logger *slog.Logger
	// Metrics gets storage operations, fallback writes and the degraded
	// gauge. Default: a private registry.
	Metrics *metrics.Metrics
	// ProbeInterval is the first delay before pinging a failed primary; it
	// doubles up to MaxProbeInterval. Defaults DefaultProbeInterval and
	// DefaultMaxProbeInterval.
	ProbeInterval, MaxProbeInterval time.Duration
	// HealthInterval is how often a healthy primary is pinged, so an idle
	// node notices an outage (and /readyz tells) without waiting for a
	// write to fail. Default DefaultHealthInterval.
	HealthInterval time.Duration
	// Clock stamps degraded periods. Default time.Now.
	Clock func() time.Time
}

// Policy wraps the primary store with the storage mode (SPEC §7) and owns
// the health state that /readyz, /status and the status command show:
//
//   - strict: a backend failure is returned (wrapping ErrUnavailable) and
//     the state turns "down" at once; every write still tries the primary.
//   - degraded: a backend failure sends the write to the fallback and the
//     state turns "degraded"; later writes go straight to the fallback (no
//     timeout per message) until a probe finds the primary back.
//
// In both modes a background probe pings the primary with backoff while the
// state is not "ok" and restores "ok" when it answers; only a successful
// Ping restores it, so one slow call that happens to succeed cannot flap the
// state. Each change logs exactly one WARN line.
//
// Failures are errors wrapping ErrUnavailable; anything else (a caller that
// gave up, ErrClosed) is returned without touching the state.
type Policy struct {
	mode, backend     string
	primary, fallback Store
	log               *slog.Logger
	m                 *metrics.Metrics
	ops               [opTotal][resultCount]prometheus.Counter
	probeMin          time.Duration
	probeMax          time.Duration
	health            time.Duration
	now               func() time.Time

	state atomic.Int32 // a stateCode; written under mu

	mu      sync.Mutex // guards lastErr, periods and state transitions
	lastErr string
	periods []period

	kick chan struct{} // wakes the probe after a failure (buffered, 1)

	life    sync.Mutex // guards started, closed, cancel
	started bool
	closed  atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type stateCode int32

const (
	stOK stateCode = iota
	stDegraded
	stDown
)

func (s stateCode) String() string {
	switch s {
	case stDegraded:
		return StateDegraded
	case stDown:
		return StateDown
	default:
		return StateOK
	}
}

// Operation and result labels of arqonbus_storage_operations_total.
const (
	opAppend = iota
	opHistory
	opCount
	opPing
	opTotal
)

const (
	resOK = iota
	resError
	resFallback
	resultCount
)

var (
	opNames     = [opTotal]string{"append", "history", "count", "ping"}
	resultNames = [resultCount]string{"ok", "error", "fallback"}
)

// NewPolicy returns a policy over o.Primary. Call Start to take the first
// reading of the primary and run the probe; Close stops both.
func NewPolicy(o PolicyOptions) *Policy {
	p := &Policy{
		mode:     o.Mode,
		backend:  o.Backend,
		primary:  o.Primary,
		fallback: o.Fallback,
		log:      o.Logger,
		m:        o.Metrics,
		probeMin: o.ProbeInterval,
		probeMax: o.MaxProbeInterval,
		health:   o.HealthInterval,
		now:      o.Clock,
		kick:     make(chan struct{}, 1),
	}
	if p.mode != config.ModeStrict {
		p.mode = config.ModeDegraded
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.m == nil {
		p.m = metrics.New(nil)
	}
	if p.probeMin <= 0 {
		p.probeMin = DefaultProbeInterval
	}
	if p.health <= 0 {
		p.health = DefaultHealthInterval
	}
	if p.probeMax <= 0 {
		p.probeMax = DefaultMaxProbeInterval
	}
	p.probeMax = max(p.probeMax, p.probeMin)
	if p.now == nil {
		p.now = time.Now
	}
	for op := range opTotal {
		for res := range resultCount {
			p.ops[op][res] = p.m.StorageOperations.WithLabelValues(opNames[op], resultNames[res])
		}
	}
	p.m.StorageDegraded.Set(0)
	return p
}

// Health reports the storage state for /readyz, /status and the status
// command. LastError is the most recent failure's short reason (see
// ErrorReason); it is kept after recovery to tell what happened.
func (p *Policy) Health() Health {
	st := stateCode(p.state.Load())
	p.mu.Lock()
	last := p.lastErr
	p.mu.Unlock()
	return Health{
		Backend:   p.backend,
		Mode:      p.mode,
		State:     st.String(),
		Degraded:  st == stDegraded,
		LastError: last,
	}
}

// Start pings the primary once (a failure puts the policy in its failed
// state at once: degraded mode then starts on the fallback) and starts the
// probe, which runs until Close or until ctx ends. Start after Close returns
// ErrClosed; a second Start does nothing.
func (p *Policy) Start(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.started {
		return nil
	}
	p.started = true
	if err := p.ping(ctx); err != nil {
		p.fail(err, time.Time{})
	}
	run, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	p.wg.Add(1)
	go p.probe(run)
	return nil
}

// Close stops the probe, waits for it, then closes the fallback and the
// primary. It is idempotent; only the first call reports close errors.
func (p *Policy) Close() error {
	p.life.Lock()
	if p.closed.Swap(true) {
		p.life.Unlock()
		return nil
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.life.Unlock()
	p.wg.Wait()
	var errs []error
	if p.fallback != nil {
		errs = append(errs, p.fallback.Close())
	}
	errs = append(errs, p.primary.Close())
	return errors.Join(errs...)
}

// Append stores env according to the mode (see Policy).
func (p *Policy) Append(ctx context.Context, key Key, env *protocol.Envelope) error {
	if p.closed.Load() {
		p.count(opAppend, resError)
		return ErrClosed
	}
	if p.fallsBack() && stateCode(p.state.Load()) != stOK {
		return p.appendFallback(ctx, key, env)
	}
	var start time.Time // when a failing write began: the degraded period starts there
	if p.mode == config.ModeDegraded {
		start = p.now()
	}
	err := p.primary.Append(ctx, key, env)
	switch {
	case err == nil:
		p.count(opAppend, resOK)
		return nil
	case !errors.Is(err, ErrUnavailable):
		p.count(opAppend, resError)
		return err
	}
	p.fail(err, start)
	if p.fallsBack() {
		return p.appendFallback(ctx, key, env)
	}
	p.count(opAppend, resError)
	return err
}

func (p *Policy) appendFallback(ctx context.Context, key Key, env *protocol.Envelope) error {
	if err := p.fallback.Append(ctx, key, env); err != nil {
		p.count(opAppend, resError)
		return err
	}
	p.m.StorageFallbackWrites.Inc()
	p.count(opAppend, resFallback)
	return nil
}

// Count returns the primary's count, plus the fallback's once degraded
// periods have put messages there (then an upper bound: a write that timed
// out may have reached both). While the primary is away it is the
// fallback's count alone.
func (p *Policy) Count(ctx context.Context, key Key) (int64, error) {
	if p.closed.Load() {
		p.count(opCount, resError)
		return 0, ErrClosed
	}
	up := stateCode(p.state.Load()) == stOK
	if !p.fallsBack() || up && !p.hadPeriods() {
		n, err := p.primary.Count(ctx, key)
		if err == nil || !errors.Is(err, ErrUnavailable) || !p.fallsBack() {
			p.observe(opCount, err)
			return n, err
		}
		p.fail(err, time.Time{})
		up = false
	}
	n, err := p.fallback.Count(ctx, key)
	if err != nil {
		p.count(opCount, resError)
		return 0, err
	}
	if up {
		pn, err := p.primary.Count(ctx, key)
		switch {
		case err == nil:
			p.count(opCount, resOK)
			return n + pn, nil
		case !errors.Is(err, ErrUnavailable):
			p.count(opCount, resError)
			return 0, err
		}
		p.fail(err, time.Time{})
	}
	p.count(opCount, resFallback)
	return n, nil
}

// Ping asks the primary; an answer restores the "ok" state.
func (p *Policy) Ping(ctx context.Context) error {
	if p.closed.Load() {
		p.count(opPing, resError)
		return ErrClosed
	}
	err := p.ping(ctx)
	if err != nil && errors.Is(err, ErrUnavailable) {
		p.fail(err, time.Time{})
	}
	return err
}

func (p *Policy) ping(ctx context.Context) error {
	err := p.primary.Ping(ctx)
	if err == nil {
		p.count(opPing, resOK)
		p.recover()
		return nil
	}
	p.count(opPing, resError)
	return err
}

// fallsBack reports whether failed writes go to the fallback.
func (p *Policy) fallsBack() bool { return p.mode == config.ModeDegraded && p.fallback != nil }

func (p *Policy) count(op, res int) { p.ops[op][res].Inc() }

// observe counts a primary call's result and turns a backend failure into
// the failed state.
func (p *Policy) observe(op int, err error) {
	if err == nil {
		p.count(op, resOK)
		return
	}
	p.count(op, resError)
	if errors.Is(err, ErrUnavailable) {
		p.fail(err, time.Time{})
	}
}

// observeRead counts a primary read's result. Unlike observe it never
// turns the state: a read that failed or ran out of time says little
// about the writes, which every tenant depends on, and one tenant's heavy
// reads must not mark storage down for all of them. Writes and the
// probe's pings decide the state.
func (p *Policy) observeRead(op int, err error) {
	if err == nil {
		p.count(op, resOK)
		return
	}
	p.count(op, resError)
}

// readFailed logs a backend failure of a read at DEBUG; the operations
// counter (result "error" or "fallback") is what to watch.
func (p *Policy) readFailed(op string, err error) {
	if errors.Is(err, ErrUnavailable) {
		p.log.Debug("storage read failed; state unchanged", "op", op, "mode", p.mode,
			"backend", p.backend, "reason", ErrorReason(err))
	}
}

// fail records a backend failure and enters the mode's failed state; the
// first failure of an episode logs the change and wakes the probe. since is
// when the failed call began (zero: now); in degraded mode the period
// starts at the earliest such call, which may have fallen back too.
func (p *Policy) fail(err error, since time.Time) {
	to := stDown
	if p.mode == config.ModeDegraded {
		to = stDegraded
	}
	if since.IsZero() {
		since = p.now()
	}
	reason := ErrorReason(err)
	p.mu.Lock()
	p.lastErr = reason
	from := stateCode(p.state.Load())
	if to == stDegraded {
		p.openPeriod(since)
	}
	if from == to {
		p.mu.Unlock()
		return
	}
	p.state.Store(int32(to))
	if to == stDegraded {
		p.m.StorageDegraded.Set(1)
	}
	p.mu.Unlock()
	p.log.Warn("storage state changed", "from", from.String(), "to", to.String(),
		"mode", p.mode, "backend", p.backend, "reason", reason)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// recover returns to "ok" after a successful ping, logging the change.
func (p *Policy) recover() {
	if stateCode(p.state.Load()) == stOK {
		return
	}
	p.mu.Lock()
	from := stateCode(p.state.Load())
	if from == stOK {
		p.mu.Unlock()
		return
	}
	p.state.Store(int32(stOK))
	if from == stDegraded {
		p.closePeriod(p.now())
		p.m.StorageDegraded.Set(0)
	}
	p.mu.Unlock()
	p.log.Warn("storage state changed", "from", from.String(), "to", StateOK,
		"mode", p.mode, "backend", p.backend)
}

// probe pings a healthy primary every health interval, and after a failure
// pings it with exponential backoff until it answers.
func (p *Policy) probe(ctx context.Context) {
	defer p.wg.Done()
	check := time.NewTicker(p.health)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-check.C:
			if stateCode(p.state.Load()) == stOK {
				if err := p.ping(ctx); err != nil && errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
					p.fail(err, time.Time{})
				}
			}
		}
		delay := p.probeMin
		for stateCode(p.state.Load()) != stOK {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if p.ping(ctx) == nil {
				break
			}
			delay = nextDelay(delay, p.probeMax)
		}
	}
}

// nextDelay doubles d up to limit.
func nextDelay(d, limit time.Duration) time.Duration {
	return min(2*d, limit)
}
