package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

// TestMain fails the package when a test leaves a goroutine behind (the
// policy's probe, client pools, fake servers).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// flaky is a memory store that fails like an unreachable backend while
// down; while readsDown only its reads (History, Locate) fail, like a
// backend that times out on heavy reads but still takes writes and pings.
type flaky struct {
	*memstore.Store
	down      atomic.Bool
	readsDown atomic.Bool
	appends   atomic.Int64 // Append calls that reached the store
	pings     atomic.Int64
	err       atomic.Pointer[error] // returned while down instead of the default
}

var (
	_ store.Store   = (*flaky)(nil)
	_ store.Locator = (*flaky)(nil)
)

func newFlaky() *flaky { return &flaky{Store: memstore.New(1000)} }

func (f *flaky) failure(op string) error {
	if e := f.err.Load(); e != nil {
		return *e
	}
	return fmt.Errorf("%s: %w: dial tcp 10.0.0.1:6379: %w", op, store.ErrUnavailable, syscall.ECONNREFUSED)
}

func (f *flaky) Append(ctx context.Context, k store.Key, env *protocol.Envelope) error {
	f.appends.Add(1)
	if f.down.Load() {
		return f.failure("append")
	}
	return f.Store.Append(ctx, k, env)
}

func (f *flaky) History(ctx context.Context, k store.Key, q store.Query) (store.Page, error) {
	if f.down.Load() || f.readsDown.Load() {
		return store.Page{}, f.failure("history")
	}
	return f.Store.History(ctx, k, q)
}

func (f *flaky) Count(ctx context.Context, k store.Key) (int64, error) {
	if f.down.Load() {
		return 0, f.failure("count")
	}
	return f.Store.Count(ctx, k)
}

func (f *flaky) Locate(ctx context.Context, k store.Key, id string) (protocol.Envelope, bool, error) {
	if f.down.Load() || f.readsDown.Load() {
		return protocol.Envelope{}, false, f.failure("locate")
	}
	return f.Store.Locate(ctx, k, id)
}

func (f *flaky) Ping(ctx context.Context) error {
	f.pings.Add(1)
	if f.down.Load() {
		return f.failure("ping")
	}
	return f.Store.Ping(ctx)
}

// logRecorder keeps every record it handles.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// warnings lists the WARN records as "from->to".
func (r *logRecorder) warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level != slog.LevelWarn {
			continue
		}
		var from, to string
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "from":
				from = a.Value.String()
			case "to":
				to = a.Value.String()
			}
			return true
		})
		out = append(out, from+"->"+to)
	}
	return out
}

// fakeClock is a settable clock for degraded periods.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
