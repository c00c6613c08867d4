package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// TestAnIdleNodeNoticesAnOutageAndTheRecovery: the probe pings a healthy
// primary every health interval, so a node that writes nothing still turns
// degraded when the primary goes away (and /readyz tells), and ok again when
// it answers.
func TestAnIdleNodeNoticesAnOutageAndTheRecovery(t *testing.T) {
	primary := newFlaky()
	p := store.NewPolicy(store.PolicyOptions{
		Primary: primary, Fallback: memstore.New(10), Logger: slog.New(slog.DiscardHandler),
		ProbeInterval: time.Millisecond, MaxProbeInterval: 4 * time.Millisecond, HealthInterval: 2 * time.Millisecond,
	})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))
	assert.Equal(t, store.StateOK, p.Health().State)

	primary.down.Store(true)
	eventually(t, func() bool { return p.Health().State == store.StateDegraded }, "the outage noticed without a write")
	assert.Zero(t, primary.appends.Load())
	primary.down.Store(false)
	eventually(t, func() bool { return p.Health().State == store.StateOK }, "the recovery noticed")
}

// TestPingTellsTheStateOfThePrimary: Ping is the readiness check's question;
// a failing primary turns the state at once, an answer restores it, and a
// caller that gave up is not a backend failure.
func TestPingTellsTheStateOfThePrimary(t *testing.T) {
	ctx := context.Background()
	primary := newFlaky()
	p := store.NewPolicy(store.PolicyOptions{
		Primary: primary, Fallback: memstore.New(10), Logger: slog.New(slog.DiscardHandler),
		Clock: (&fakeClock{now: storetest.Base}).Now,
		// The probe waits an hour, so only Ping changes the state here.
		ProbeInterval: time.Hour, HealthInterval: time.Hour,
	})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(ctx))

	require.NoError(t, p.Ping(ctx))
	assert.Equal(t, store.StateOK, p.Health().State)

	canceled := context.Canceled
	primary.err.Store(&canceled)
	primary.down.Store(true)
	assert.ErrorIs(t, p.Ping(ctx), context.Canceled)
	assert.Equal(t, store.StateOK, p.Health().State, "a caller that gave up")

	primary.err.Store(nil)
	assert.ErrorIs(t, p.Ping(ctx), store.ErrUnavailable)
	assert.Equal(t, store.StateDegraded, p.Health().State)
	assert.Equal(t, "connection refused", p.Health().LastError)

	primary.down.Store(false)
	require.NoError(t, p.Ping(ctx))
	assert.Equal(t, store.StateOK, p.Health().State, "an answer restores ok")
}

// TestTheProbeKeepsTryingUntilThePrimaryAnswers: after a failure the probe
// pings with backoff, failed ping after failed ping, until the primary
// answers; no write or health tick has to come along.
func TestTheProbeKeepsTryingUntilThePrimaryAnswers(t *testing.T) {
	primary := newFlaky()
	p := store.NewPolicy(store.PolicyOptions{
		Primary: primary, Fallback: memstore.New(10), Logger: slog.New(slog.DiscardHandler),
		ProbeInterval: time.Millisecond, MaxProbeInterval: 2 * time.Millisecond, HealthInterval: time.Hour,
	})
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Start(context.Background()))

	primary.down.Store(true)
	require.NoError(t, p.Append(context.Background(), key, storetest.Msg(key, 0)), "to the fallback")
	pinged := primary.pings.Load()
	eventually(t, func() bool { return primary.pings.Load() >= pinged+3 }, "three failed probes in a row")
	assert.Equal(t, store.StateDegraded, p.Health().State)
	primary.down.Store(false)
	eventually(t, func() bool { return p.Health().State == store.StateOK }, "the probe finding the primary back")
}
