package bus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// Sender is the publishing client.
type Sender struct {
	ID     string
	Tenant string
}

// Result is what a sender's acknowledgement reports.
type Result struct {
	Delivered int
	Persisted bool
}

// Publisher runs the publish pipeline: check, persist, encode once, hand to
// the broker. In strict storage mode a failed persist stops the pipeline, so
// an unstored message is never delivered.
type Publisher struct {
	hub               *Hub
	broker            broker.Broker
	store             store.Store
	requireMembership bool
	clock             func() time.Time
	log               *slog.Logger
	duration          prometheus.Observer // arqonbus_publish_duration_seconds
}

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	Hub    *Hub
	Broker broker.Broker
	// Store persists room messages; nil disables persistence.
	Store store.Store
	// RequireMembership refuses publishing into pairs the sender is not in.
	RequireMembership bool
	Clock             func() time.Time
	Logger            *slog.Logger
	// Metrics times each successful publish
	// (arqonbus_publish_duration_seconds). Default: a private registry.
	Metrics *metrics.Metrics
}

// NewPublisher returns a publisher.
func NewPublisher(o PublisherOptions) *Publisher {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	return &Publisher{
		hub: o.Hub, broker: o.Broker, store: o.Store, requireMembership: o.RequireMembership,
		clock: o.Clock, log: o.Logger, duration: o.Metrics.PublishDuration,
	}
}

// Persistent reports whether messages are stored.
func (p *Publisher) Persistent() bool { return p.store != nil }

// Publish delivers a message or telemetry envelope from sender. It stamps the
// envelope (id, timestamp, sender) and returns what the ack reports. Errors
// are *protocol.Error values fit for the sender.
func (p *Publisher) Publish(ctx context.Context, from Sender, env *protocol.Envelope) (Result, error) {
	return p.timed(from, env, func() (Result, error) {
		switch {
		case env.HasRoute():
			return p.publishRoom(ctx, from, env, p.requireMembership)
		case env.ToClient != "":
			return p.publishDirect(ctx, from, env)
		}
		return Result{}, nil
	})
}

// PublishServer publishes a room message the node itself originates (a
// cron firing) through the same pipeline as a client's: storage mode,
// history, fan-out and metrics alike. from.ID is a service name (such as
// "op-cron") set as sender and from_client; it is no client, so the
// membership rule does not apply.
func (p *Publisher) PublishServer(ctx context.Context, from Sender, env *protocol.Envelope) (Result, error) {
	return p.timed(from, env, func() (Result, error) { return p.publishRoom(ctx, from, env, false) })
}

// timed stamps env as sent by from, runs publish and times it when it
// succeeds (arqonbus_publish_duration_seconds).
func (p *Publisher) timed(from Sender, env *protocol.Envelope, publish func() (Result, error)) (Result, error) {
	start := p.clock()
	env.Sender = from.ID
	env.FromClient = from.ID
	protocol.Stamp(env, start)
	res, err := publish()
	if err == nil {
		p.duration.Observe(p.clock().Sub(start).Seconds())
	}
	return res, err
}

func (p *Publisher) publishRoom(ctx context.Context, from Sender, env *protocol.Envelope, checkMember bool) (Result, error) {
	t := Topic{Tenant: from.Tenant, Room: env.Room, Channel: env.Channel}
	if checkMember && !p.hub.IsMember(from.ID, t) {
		return Result{}, protocol.NewError(protocol.CodeAuthorization,
			"join this room and channel before publishing to it")
	}
	var res Result
	if p.store != nil {
		key := store.Key{Tenant: t.Tenant, Room: t.Room, Channel: t.Channel}
		if err := p.store.Append(ctx, key, env); err != nil {
			p.log.Warn("persist failed; message refused", "client_id", from.ID, "op", "append",
				"message_id", env.ID, "err", err)
			if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) {
				return Result{}, protocol.NewError(protocol.CodeStorageUnavailable,
					"storage is unavailable; the message was not delivered")
			}
			return Result{}, protocol.NewError(protocol.CodeInternal, "internal error")
		}
		res.Persisted = true
	}
	n, err := p.broker.Publish(ctx, &broker.Delivery{
		Tenant: t.Tenant, Room: t.Room, Channel: t.Channel,
		SenderID: from.ID, Frame: protocol.Encode(env),
	})
	if err != nil {
		// Only the memory broker fails here, once closed (broker.ErrClosed,
		// while the node shuts down), and then it delivered nothing. The
		// Redis broker never fails a publish: it delivers locally first,
		// and a copy that cannot reach the other nodes (outbox full, Redis
		// down) is logged and counted by the broker itself
		// (arqonbus_failures_total). The message may be stored already
		// (res.Persisted); the sender gets INTERNAL_ERROR either way.
		p.log.Error("broker publish failed", "client_id", from.ID, "op", "broker_publish",
			"message_id", env.ID, "err", err)
		return res, protocol.NewError(protocol.CodeInternal, "delivery to other nodes failed")
	}
	res.Delivered = n
	return res, nil
}

func (p *Publisher) publishDirect(ctx context.Context, from Sender, env *protocol.Envelope) (Result, error) {
	ok, err := p.broker.HasClient(ctx, from.Tenant, env.ToClient)
	if err != nil {
		p.log.Error("presence lookup failed", "client_id", from.ID, "op", "presence", "err", err)
		return Result{}, protocol.NewError(protocol.CodeInternal, "internal error")
	}
	if !ok {
		return Result{}, protocol.NewError(protocol.CodeNotFound, "no such client")
	}
	n, err := p.broker.Publish(ctx, &broker.Delivery{
		Tenant: from.Tenant, ToClient: env.ToClient, SenderID: from.ID, Frame: protocol.Encode(env),
	})
	if err != nil {
		p.log.Error("broker publish failed", "client_id", from.ID, "op", "broker_publish",
			"message_id", env.ID, "err", err)
		return Result{}, protocol.NewError(protocol.CodeInternal, "internal error")
	}
	return Result{Delivered: n}, nil
}
