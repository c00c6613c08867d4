package bus_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

var science = bus.Topic{Tenant: "acme", Room: "science", Channel: "explore"}

// refusingStore is a memory store whose Append fails with err.
type refusingStore struct {
	*memstore.Store
	err error
}

func (s refusingStore) Append(context.Context, store.Key, *protocol.Envelope) error { return s.err }

// pipeline is a publisher over a hub with a sender and a listener in science.
type pipeline struct {
	hub      *bus.Hub
	brk      *broker.Memory
	pub      *bus.Publisher
	listener *sink
	m        *metrics.Metrics
}

func newPipeline(t *testing.T, st store.Store, requireMembership bool) *pipeline {
	t.Helper()
	p := &pipeline{hub: bus.NewHub(8), m: metrics.New(nil)}
	p.brk = broker.NewMemory(p.hub)
	connect(t, p.hub, "sender", "acme")
	p.listener = connect(t, p.hub, "listener", "acme", science)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.pub = bus.NewPublisher(bus.PublisherOptions{
		Hub: p.hub, Broker: p.brk, Store: st, RequireMembership: requireMembership,
		Clock: func() time.Time {
			clock = clock.Add(time.Millisecond)
			return clock
		},
		Metrics: p.m,
	})
	return p
}

// timed reads the publish-duration histogram: how many publishes were
// timed, and their total duration.
func (p *pipeline) timed(t *testing.T) (n uint64, total time.Duration) {
	t.Helper()
	var m dto.Metric
	require.NoError(t, p.m.PublishDuration.(prometheus.Metric).Write(&m))
	h := m.GetHistogram()
	return h.GetSampleCount(), time.Duration(math.Round(h.GetSampleSum() * float64(time.Second)))
}

func roomMessage() *protocol.Envelope {
	return &protocol.Envelope{Type: protocol.TypeMessage, Room: science.Room, Channel: science.Channel,
		Payload: []byte(`{"text":"hello"}`)}
}

var from = bus.Sender{ID: "sender", Tenant: "acme"}

func TestPublishStoresStampsAndDeliversARoomMessage(t *testing.T) {
	st := memstore.New(10)
	p := newPipeline(t, st, false)
	env := roomMessage()
	res, err := p.pub.Publish(context.Background(), from, env)
	require.NoError(t, err)
	assert.Equal(t, bus.Result{Delivered: 1, Persisted: true}, res)
	assert.True(t, p.pub.Persistent())

	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, int(time.Millisecond), time.UTC), env.Timestamp,
		"stamped with the publisher's clock")
	assert.Equal(t, "sender", env.Sender)
	assert.Equal(t, "sender", env.FromClient)
	assert.Equal(t, []string{string(protocol.Encode(env))}, p.listener.got())
	n, err := st.Count(context.Background(), store.Key{Tenant: "acme", Room: "science", Channel: "explore"})
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	timed, took := p.timed(t)
	assert.Equal(t, uint64(1), timed, "a publish's duration is observed")
	assert.Equal(t, time.Millisecond, took)
}

func TestPublishWithoutAStoreIsNotPersisted(t *testing.T) {
	p := newPipeline(t, nil, false)
	res, err := p.pub.Publish(context.Background(), from, roomMessage())
	require.NoError(t, err)
	assert.Equal(t, bus.Result{Delivered: 1}, res)
	assert.False(t, p.pub.Persistent())
}

func TestAMessageThatCannotBeStoredIsNeverDelivered(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want protocol.Code
	}{
		{"storage is unavailable", fmt.Errorf("append: %w", store.ErrUnavailable), protocol.CodeStorageUnavailable},
		{"storage is closed", store.ErrClosed, protocol.CodeStorageUnavailable},
		{"anything else is internal", errors.New("disk on fire"), protocol.CodeInternal},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPipeline(t, refusingStore{memstore.New(10), c.err}, false)
			res, err := p.pub.Publish(context.Background(), from, roomMessage())
			assert.Equal(t, c.want, protocol.AsWire(err).Code)
			assert.NotContains(t, protocol.AsWire(err).Message, "disk on fire", "internals never leak")
			assert.Equal(t, bus.Result{}, res)
			assert.Empty(t, p.listener.got())
			timed, _ := p.timed(t)
			assert.Zero(t, timed, "a failed publish is not observed")
		})
	}
}

func TestPublishingIntoAPairRequiresMembershipWhenAsked(t *testing.T) {
	p := newPipeline(t, nil, true)
	_, err := p.pub.Publish(context.Background(), from, roomMessage())
	assert.Equal(t, protocol.CodeAuthorization, protocol.AsWire(err).Code)
	assert.Empty(t, p.listener.got())

	_, err = p.hub.Join("sender", science)
	require.NoError(t, err)
	res, err := p.pub.Publish(context.Background(), from, roomMessage())
	require.NoError(t, err)
	assert.Equal(t, 1, res.Delivered)
}

func TestADirectMessageNeedsAConnectedTarget(t *testing.T) {
	p := newPipeline(t, memstore.New(10), false)
	dm := &protocol.Envelope{Type: protocol.TypeMessage, ToClient: "listener", Payload: []byte(`{}`)}
	res, err := p.pub.Publish(context.Background(), from, dm)
	require.NoError(t, err)
	assert.Equal(t, bus.Result{Delivered: 1}, res, "direct messages are not stored")
	assert.Len(t, p.listener.got(), 1)

	lost := &protocol.Envelope{Type: protocol.TypeMessage, ToClient: "nobody", Payload: []byte(`{}`)}
	_, err = p.pub.Publish(context.Background(), from, lost)
	assert.Equal(t, protocol.CodeNotFound, protocol.AsWire(err).Code)
	timed, _ := p.timed(t)
	assert.Equal(t, uint64(1), timed, "only the delivered message was observed")
}

func TestAClosedBrokerFailsThePublish(t *testing.T) {
	p := newPipeline(t, nil, false)
	require.NoError(t, p.brk.Close())
	_, err := p.pub.Publish(context.Background(), from, roomMessage())
	assert.Equal(t, protocol.CodeInternal, protocol.AsWire(err).Code)

	dm := &protocol.Envelope{Type: protocol.TypeMessage, ToClient: "listener", Payload: []byte(`{}`)}
	_, err = p.pub.Publish(context.Background(), from, dm)
	assert.Equal(t, protocol.CodeInternal, protocol.AsWire(err).Code)
	timed, _ := p.timed(t)
	assert.Zero(t, timed)
}

func TestAPublisherWithoutClockOrLoggerUsesTheirDefaults(t *testing.T) {
	hub := bus.NewHub(8)
	pub := bus.NewPublisher(bus.PublisherOptions{Hub: hub, Broker: broker.NewMemory(hub),
		Store: refusingStore{memstore.New(10), store.ErrUnavailable}})
	env := roomMessage()
	before := time.Now()
	_, err := pub.Publish(context.Background(), from, env)
	assert.Equal(t, protocol.CodeStorageUnavailable, protocol.AsWire(err).Code, "the refusal is logged without a logger")
	assert.False(t, env.Timestamp.Before(before.Truncate(time.Millisecond)), "stamped with the wall clock")
}
