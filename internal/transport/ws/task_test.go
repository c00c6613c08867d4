package ws

import (
	"encoding/json"
	"strings"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
)

// testTask is a task as the dispatcher hands it to a worker.
var testTask = taskq.Task{ID: "task_0123456789abcdef0123456789abcdef", Tenant: "", Group: "g1",
	Body: json.RawMessage(`{"n":1}`), Attempt: 2}

// A worker's connection takes a task as the op.task command frame while it
// is open; once it is closing it refuses the task, so the dispatcher gives
// the task to another worker instead of losing it in a dead queue.
func TestDeliverQueuesTheTaskFrameUntilTheConnectionCloses(t *testing.T) {
	s := NewServer(testOptions(nil))
	c, peer := pipeConn(t, s)

	require.True(t, c.Deliver(testTask), "an open connection takes the task")
	f := readFrameFrom(t, peer)
	require.Equal(t, byte(opText), f.op)
	env, err := protocol.Decode(f.payload, protocol.Limits{MaxDepth: 32, ServerFrames: true})
	require.NoError(t, err)
	assert.Equal(t, protocol.TypeCommand, env.Type)
	assert.Equal(t, testTask.ID, env.ID)
	assert.Equal(t, protocol.CommandTask, env.Command)
	assert.JSONEq(t, `{"n":1}`, string(env.Payload))
	assert.JSONEq(t, `{"group":"g1","attempt":2}`, string(env.Metadata))

	c.closeWith(0, "")
	assert.False(t, c.Deliver(testTask), "a closing connection refuses the task")
	<-c.writerDone()
	assert.False(t, c.Deliver(testTask), "a closed connection refuses the task")
}

// A worker that does not read is a slow consumer like any other: the
// delivery that overflows its send queue is refused, and the connection is
// dropped with 4008 and counted.
func TestDeliverToAWorkerThatDoesNotReadOverflowsItsQueue(t *testing.T) {
	m := metrics.New(nil)
	s := NewServer(testOptions(func(o *Options) { o.SendQueueBytes, o.Metrics = 64, m }))
	c, _ := pipeConn(t, s) // the peer never reads: the writer blocks on its first frame
	big := testTask
	big.Body = json.RawMessage(`{"pad":"` + strings.Repeat("x", 100) + `"}`) // over the bound alone
	for i := range 3 {
		if !c.Deliver(big) {
			break
		}
		require.Less(t, i, 2, "the third delivery at the latest overflows: the writer holds the first")
	}
	assert.Equal(t, 1.0, promtest.ToFloat64(m.SlowConsumerDisconnects))
	assert.False(t, c.Deliver(testTask), "nothing is taken after the overflow")
}

// newRouteFixture starts a server whose work-queue lane is open, with a
// worker connection (the sender of the frames under test) and a member of
// r:c that sees what is routed there, and returns them with readers of
// their next frames. Neither connection has a reader goroutine: the test
// calls handle itself.
func newRouteFixture(t *testing.T) (*conn, *conn, func() frame, func() frame) {
	t.Helper()
	cfg := config.Default(config.ProfileDev)
	m := metrics.New(nil)
	hub := bus.NewHub(cfg.MaxSubscriptions)
	q := memq.New(memq.Options{Limits: taskq.Limits{QueueMax: cfg.TaskQueueMax, MaxAttempts: cfg.TaskMaxAttempts,
		Visibility: cfg.TaskVisibilityTimeout, ResultTTL: cfg.TaskResultTTL}})
	d := taskq.NewDispatcher(taskq.Options{Queue: q, Prefetch: cfg.TaskPrefetch, Visibility: cfg.TaskVisibilityTimeout,
		PollInterval: cfg.TaskPollInterval, Metrics: m})
	d.Start()
	t.Cleanup(func() {
		d.Stop()
		require.NoError(t, q.Close())
	})
	s := NewServer(testOptions(func(o *Options) {
		o.Hub, o.Metrics = hub, m
		o.Publisher = bus.NewPublisher(bus.PublisherOptions{Hub: hub, Broker: broker.NewMemory(hub), Metrics: m})
		o.Commands = command.New(command.Deps{Hub: hub, PrototypeLanesOpen: true, Tasks: d, Metrics: m})
	}))
	worker, workerPeer := pipeConn(t, s)
	member, memberPeer := pipeConn(t, s)
	hub.Register(worker)
	hub.Register(member)
	t.Cleanup(func() {
		d.LeaveAll(worker.id) // as the node does when a connection ends
		hub.Unregister(worker.id)
		hub.Unregister(member.id)
	})
	_, err := hub.Join(member.id, bus.Topic{Room: "r", Channel: "c"})
	require.NoError(t, err)
	return worker, member, func() frame { return readFrameFrom(t, workerPeer) },
		func() frame { return readFrameFrom(t, memberPeer) }
}

// decodeFrame decodes a text frame the server sent.
func decodeFrame(t *testing.T, f frame) *protocol.Envelope {
	t.Helper()
	require.Equal(t, byte(opText), f.op)
	env, err := protocol.Decode(f.payload, protocol.Limits{MaxDepth: 32, ServerFrames: true})
	require.NoError(t, err)
	return env
}

// A response whose request_id is not a task id is what it was in v1: a
// routed message, acknowledged to its sender, even while the work queue is
// open.
func TestAResponseThatIsNotATaskAnswerRoutesAsInV1(t *testing.T) {
	worker, _, workerFrame, memberFrame := newRouteFixture(t)
	worker.handle([]byte(`{"type":"response","id":"m1","request_id":"req-7","status":"success",` +
		`"room":"r","channel":"c","payload":{"a":1}}`))

	got := decodeFrame(t, memberFrame())
	assert.Equal(t, protocol.TypeResponse, got.Type)
	assert.Equal(t, "m1", got.ID)
	assert.Equal(t, "req-7", got.RequestID)
	assert.Equal(t, worker.id, got.Sender)
	assert.JSONEq(t, `{"a":1}`, string(got.Payload))

	ack := decodeFrame(t, workerFrame())
	assert.Equal(t, protocol.TypeMessageResponse, ack.Type)
	assert.Equal(t, "m1", ack.ID)
	assert.JSONEq(t, `{"delivered":1,"persisted":false}`, string(ack.Payload))
}

// A response naming a task id is a task answer: it gets its one reply from
// the work queue (here NOT_FOUND: this connection holds no such task) and
// is not routed, although it names a room.
func TestATaskAnswerIsNotRouted(t *testing.T) {
	worker, _, workerFrame, memberFrame := newRouteFixture(t)
	worker.handle([]byte(`{"type":"response","id":"a1","request_id":"` + testTask.ID + `","status":"success",` +
		`"room":"r","channel":"c","payload":{"ok":true}}`))
	reply := decodeFrame(t, workerFrame())
	assert.Equal(t, protocol.TypeError, reply.Type)
	assert.Equal(t, "a1", reply.RequestID)
	assert.Equal(t, string(protocol.CodeNotFound), reply.ErrorCode)

	// The member is alive and its next frame is the next routed message:
	// the task answer never reached it.
	worker.handle([]byte(`{"type":"message","id":"m2","room":"r","channel":"c","payload":{"b":2}}`))
	assert.Equal(t, "m2", decodeFrame(t, memberFrame()).ID)
	assert.Equal(t, "m2", decodeFrame(t, workerFrame()).ID, "the message's ack")
}

// operator.join gets its one reply from the registry: the group and the
// worker, which is this connection.
func TestOperatorJoinRegistersTheConnectionAsAWorker(t *testing.T) {
	worker, _, workerFrame, _ := newRouteFixture(t)
	worker.handle([]byte(`{"type":"operator.join","id":"j1","payload":{"group":"g1"}}`))
	reply := decodeFrame(t, workerFrame())
	assert.Equal(t, protocol.TypeResponse, reply.Type)
	assert.Equal(t, "j1", reply.RequestID)
	assert.Equal(t, protocol.StatusSuccess, reply.Status)
	var p struct {
		Data map[string]string `json:"data"`
	}
	require.NoError(t, json.Unmarshal(reply.Payload, &p))
	assert.Equal(t, map[string]string{"group": "g1", "worker": worker.id}, p.Data)
}
