package ws

import (
	"context"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
)

// A connection is a worker of the work queue (SPEC §11.1) once it joined a
// group with operator.join: the dispatcher hands it tasks through Deliver.
var _ taskq.Worker = (*conn)(nil)

// Deliver enqueues t as an op.task command frame, without blocking. A
// delivery is a server frame like a room delivery: it takes the send
// queue's bound, and a worker whose queue overflows is a slow consumer
// (dropped with 4008, logged and counted by Send). It reports false when
// the connection is closed or closing or its queue refused the frame; the
// dispatcher then releases the task to another worker. Safe for concurrent
// use.
func (c *conn) Deliver(t taskq.Task) bool {
	return c.Send(protocol.EncodeTaskDelivery(t.ID, t.Group, t.Attempt, t.Body))
}

// operatorJoin registers the connection as a worker of the frame's group
// and sends the frame's one reply; the registry checks the gate, the role
// and the group.
func (c *conn) operatorJoin(ctx context.Context, env *protocol.Envelope) {
	c.reply(c.srv.o.Commands.OperatorJoin(ctx, c.caller(), c, env))
}

// response handles a response frame: a completion of a task this worker
// holds (its request_id is a task id) gets the registry's one reply; any
// other response routes like a message, as in v1.
func (c *conn) response(ctx context.Context, env *protocol.Envelope) {
	if reply, ok := c.srv.o.Commands.TaskResponse(ctx, c.caller(), env); ok {
		c.reply(reply)
		return
	}
	c.publish(ctx, env)
}
