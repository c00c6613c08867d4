package broker

import (
	"context"
	"sync/atomic"
)

// Memory is the single-node broker: it hands deliveries straight to the hub.
type Memory struct {
	local  Local
	closed atomic.Bool
}

var _ Broker = (*Memory)(nil)

// NewMemory returns a broker delivering to local only.
func NewMemory(local Local) *Memory { return &Memory{local: local} }

// Publish delivers d to the local hub.
func (m *Memory) Publish(_ context.Context, d *Delivery) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	return m.local.Deliver(d), nil
}

// HasClient asks the local hub.
func (m *Memory) HasClient(_ context.Context, tenant, clientID string) (bool, error) {
	return m.local.HasClient(tenant, clientID), nil
}

// Connected is a no-op: the hub is the whole cluster.
func (m *Memory) Connected(string, string) {}

// Disconnected is a no-op.
func (m *Memory) Disconnected(string, string) {}

// Close marks the broker closed.
func (m *Memory) Close() error {
	m.closed.Store(true)
	return nil
}
