package ws

import (
	"context"
	"runtime/debug"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

var (
	errRateLimit = protocol.NewError(protocol.CodeRateLimitExceeded,
		"rate limit exceeded; the frame was dropped")
	errTenantRateLimit = protocol.NewError(protocol.CodeRateLimitExceeded,
		"your tenant's connections together are over their rate limit ("+config.VarTenantRateLimit+"); the frame was dropped")
	errNoRoute = protocol.ValidationError(
		"nowhere to deliver: set room and channel, or to_client")
	errGuestPublish = protocol.NewError(protocol.CodeAuthorization,
		"role guest may not publish")
)

// handle processes one frame and sends its one reply. It reports whether the
// connection must close (too many violations).
func (c *conn) handle(data []byte) (stop bool) {
	ctx := context.Background() // every store and broker call bounds itself
	m := c.srv.o.Metrics
	defer func() {
		if p := recover(); p != nil {
			c.srv.o.Logger.Error("frame handler panicked", "client_id", c.id, "op", "handle",
				"panic", p, "stack", string(debug.Stack()))
			m.Fail("handle_panic")
			c.replyError(peekID(data), protocol.NewError(protocol.CodeInternal, "internal error"))
		}
	}()
	env, err := protocol.Decode(data, c.srv.limits)
	if err != nil {
		m.MessagesReceived.WithLabelValues("invalid").Inc()
		id := ""
		if env != nil && protocol.ValidID(env.ID) {
			id = env.ID
		}
		c.replyError(id, err)
		if c.violation() {
			c.closeWith(closePolicy, "too many protocol violations")
			return true
		}
		return false
	}
	m.MessagesReceived.WithLabelValues(env.Type).Inc()
	if env.ID == "" {
		env.ID = protocol.NewMessageID()
	}
	switch env.Type {
	case protocol.TypeCommand:
		c.reply(c.srv.o.Commands.Handle(ctx, c.caller(), env))
	case protocol.TypeOperatorJoin:
		c.operatorJoin(ctx, env)
	case protocol.TypeResponse: // a task completion, or routed like a message
		c.response(ctx, env)
	case protocol.TypeTelemetry:
		c.telemetry(ctx, env)
	default: // message, error: routed like messages
		c.publish(ctx, env)
	}
	return false
}

func (c *conn) caller() command.Caller {
	return command.Caller{ClientID: c.id, Subject: c.ident.Subject, Tenant: c.ident.Tenant, Role: c.ident.Role}
}

func (c *conn) sender() bus.Sender { return bus.Sender{ID: c.id, Tenant: c.ident.Tenant} }

func (c *conn) publish(ctx context.Context, env *protocol.Envelope) {
	if !env.HasRoute() && env.ToClient == "" {
		c.replyError(env.ID, errNoRoute)
		return
	}
	if c.ident.Role < auth.RoleUser {
		c.replyError(env.ID, errGuestPublish)
		return
	}
	res, err := c.srv.o.Publisher.Publish(ctx, c.sender(), env)
	if err != nil {
		c.replyError(env.ID, err)
		return
	}
	c.sendReply(protocol.EncodeMessageAck(env.ID, res.Delivered, res.Persisted, c.srv.o.Clock()))
}

// telemetry is delivered like a message when routed and never acknowledged;
// a failure is logged and counted instead of answered.
func (c *conn) telemetry(ctx context.Context, env *protocol.Envelope) {
	if !env.HasRoute() || c.ident.Role < auth.RoleUser {
		return
	}
	if _, err := c.srv.o.Publisher.Publish(ctx, c.sender(), env); err != nil {
		we := protocol.AsWire(err)
		c.srv.o.Metrics.MessagesDropped.WithLabelValues("telemetry_" + string(we.Code)).Inc()
		c.srv.o.Logger.Warn("telemetry not delivered", "client_id", c.id, "op", "telemetry",
			"message_id", env.ID, "code", we.Code)
	}
}

func (c *conn) reply(env *protocol.Envelope) {
	if env.ErrorCode != "" {
		c.srv.o.Metrics.Errors.WithLabelValues(env.ErrorCode).Inc()
	}
	c.sendReply(protocol.Encode(env))
}

// replyError sends one error envelope. Internal errors are logged here; the
// client only ever sees the code and a safe message.
func (c *conn) replyError(requestID string, err error) {
	we := protocol.AsWire(err)
	if we.Code == protocol.CodeInternal {
		c.srv.o.Logger.Error("request failed", "client_id", c.id, "op", "request",
			"request_id", requestID, "err", err)
	}
	c.reply(protocol.ErrorReply(requestID, we, c.srv.o.Clock()))
}

// peekID recovers a valid id from a frame that was not handled, so its error
// can still name it.
func peekID(data []byte) string { return protocol.PeekID(data) }
