package store_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

// announcing is a flaky primary that can announce, recording what it did.
type announcing struct {
	*flaky
	mu  sync.Mutex
	got []string // bodies announced
}

func (a *announcing) AppendAnnounce(ctx context.Context, k store.Key, env *protocol.Envelope, an store.Announcement) (bool, error) {
	if err := a.Append(ctx, k, env); err != nil {
		return false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, string(an.Body))
	return true, nil
}

func (a *announcing) bodies() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got...)
}

func newAnnouncingPolicy(t *testing.T, mode string, primary store.Store) *store.Policy {
	t.Helper()
	p := store.NewPolicy(store.PolicyOptions{
		Mode: mode, Backend: store.BackendRedis, Primary: primary, Fallback: memstore.New(1000),
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(prometheus.NewRegistry()),
		ProbeInterval: time.Millisecond, MaxProbeInterval: 4 * time.Millisecond,
	})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	return p
}

// The policy lets an announcing primary publish with the append, and says
// "not announced" whenever the message went anywhere else, so the caller
// publishes it itself and no message misses the other nodes.
func TestAppendAnnounceIsAnnouncedOnlyByAnAnnouncingPrimaryThatStoredIt(t *testing.T) {
	ctx := context.Background()
	an := store.Announcement{Channel: "bus", Self: "bus:node:a"}
	body := func(s string) store.Announcement { a := an; a.Body = []byte(s); return a }

	t.Run("primary up", func(t *testing.T) {
		primary := &announcing{flaky: newFlaky()}
		p := newAnnouncingPolicy(t, store.ModeDegraded, primary)
		announced, err := p.AppendAnnounce(ctx, key, msgAt(0), body("one"))
		require.NoError(t, err)
		assert.True(t, announced)
		assert.Equal(t, []string{"one"}, primary.bodies())
		n, err := p.Count(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "stored as well")
	})
	t.Run("degraded: the fallback stores it, unannounced", func(t *testing.T) {
		primary := &announcing{flaky: newFlaky()}
		p := newAnnouncingPolicy(t, store.ModeDegraded, primary)
		primary.down.Store(true)
		announced, err := p.AppendAnnounce(ctx, key, msgAt(1), body("two"))
		require.NoError(t, err)
		assert.False(t, announced, "the caller must publish it")
		assert.Empty(t, primary.bodies())
		n, err := p.Count(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "in the fallback")
	})
	t.Run("strict: refused, unannounced", func(t *testing.T) {
		primary := &announcing{flaky: newFlaky()}
		p := newAnnouncingPolicy(t, store.ModeStrict, primary)
		primary.down.Store(true)
		announced, err := p.AppendAnnounce(ctx, key, msgAt(2), body("three"))
		require.ErrorIs(t, err, store.ErrUnavailable)
		assert.False(t, announced)
		assert.Empty(t, primary.bodies())
	})
	t.Run("a primary that cannot announce", func(t *testing.T) {
		p := newAnnouncingPolicy(t, store.ModeStrict, newFlaky())
		announced, err := p.AppendAnnounce(ctx, key, msgAt(3), body("four"))
		require.NoError(t, err)
		assert.False(t, announced, "stored, and left to the caller to publish")
	})
}
