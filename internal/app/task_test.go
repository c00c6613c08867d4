package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// delivery is a task frame as the worker reads it.
type delivery struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
	Metadata struct {
		Group   string `json:"group"`
		Attempt int    `json:"attempt"`
	} `json:"metadata"`
}

// readDelivery decodes a task frame and checks that it carries exactly the
// fields SPEC §11.1 names, besides those the server stamps on every frame.
func readDelivery(t *testing.T, raw []byte) delivery {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &fields), "%s", raw)
	for k := range fields {
		assert.Contains(t, []string{"type", "id", "command", "payload", "metadata", "version", "timestamp", "sender"},
			k, "field %s of %s", k, raw)
	}
	var d delivery
	require.NoError(t, json.Unmarshal(raw, &d))
	assert.Equal(t, protocol.TypeCommand, d.Type)
	assert.Equal(t, "op.task", d.Command)
	var meta map[string]any
	require.NoError(t, json.Unmarshal(fields["metadata"], &meta))
	assert.Len(t, meta, 2, "metadata is {group, attempt}: %s", fields["metadata"])
	return d
}

func commandData(t *testing.T, r *protocol.Envelope) map[string]any {
	t.Helper()
	require.NoError(t, client.ReplyError(r), "reply %s", protocol.Encode(r))
	var p struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.Payload, &p))
	return p.Data
}

// The whole lane on each backend: a worker joins, a client submits, the
// worker gets the task as an op.task command, answers it, gets its one
// acknowledgement, and the submitter reads the result.
func TestATaskGoesFromSubmitterToWorkerAndItsResultBack(t *testing.T) {
	t.Run("memory", func(t *testing.T) { taskRoundTrip(t, testutil.StartServer(t)) })
	t.Run("redis", func(t *testing.T) {
		mr := redistest.MiniRedis(t)
		s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict))
		taskRoundTrip(t, s)
		stored := false
		for _, k := range mr.Keys() {
			stored = stored || strings.HasPrefix(k, redisq.DefaultPrefix+"{q:") // the queue's hash tag
		}
		assert.True(t, stored, "the task lives in Redis: %q", mr.Keys())
	})
}

func taskRoundTrip(t *testing.T, s *testutil.Server) {
	require.Zero(t, s.Counter(t, "commands_total", "operator.join", "success"), "the label starts at 0")
	require.Zero(t, s.Counter(t, "commands_total", "op.task.complete", "success"), "the label starts at 0")
	w := testutil.DialTaskWorker(t, s, 64)
	data := commandData(t, testutil.JoinWorkers(t, w.Client, "g1"))
	assert.Equal(t, map[string]any{"group": "g1", "worker": w.ID()}, data)
	assert.Equal(t, 1.0, s.Counter(t, "commands_total", "operator.join", "success"))

	sub := testutil.Dial(t, s)
	id := testutil.SubmitTask(t, sub, "g1", map[string]any{"claim": "water is wet", "n": 3})

	d := readDelivery(t, w.Next(t, testutil.Timeout))
	assert.Equal(t, id, d.ID)
	assert.JSONEq(t, `{"claim":"water is wet","n":3}`, string(d.Payload))
	assert.Equal(t, "g1", d.Metadata.Group)
	assert.Equal(t, 1, d.Metadata.Attempt)

	ack := testutil.Request(t, w.Client, &protocol.Envelope{Type: protocol.TypeResponse, ID: "r1",
		RequestID: id, Status: protocol.StatusSuccess, Payload: json.RawMessage(`{"ok":true}`)})
	assert.Equal(t, protocol.TypeMessageResponse, ack.Type)
	assert.Equal(t, "r1", ack.ID)
	assert.Equal(t, protocol.StatusSuccess, ack.Status)
	assert.JSONEq(t, `{"task_id":"`+id+`","state":"done"}`, string(ack.Payload))
	w.Quiet(t) // one reply, and no other task

	got := testutil.Command(t, sub, "op.task.get", map[string]any{"task_id": id})
	assert.Equal(t, id, got["task_id"])
	assert.Equal(t, "g1", got["group"])
	assert.Equal(t, "done", got["state"])
	assert.Equal(t, 1.0, got["attempts"])
	assert.Equal(t, map[string]any{"ok": true}, got["result"])
	assert.Equal(t, 1.0, s.Counter(t, "commands_total", "op.task.complete", "success"))
}

// A worker that disconnects while holding a task gives it up at once: the
// next worker of the group gets it, as attempt 2, well before the
// visibility timeout (30 s by default).
func TestATaskHeldByADisconnectedWorkerGoesToAnotherWithinASecond(t *testing.T) {
	s := testutil.StartServer(t)
	first := testutil.DialTaskWorker(t, s, 64)
	commandData(t, testutil.JoinWorkers(t, first.Client, "g1"))
	sub := testutil.Dial(t, s)
	id := testutil.SubmitTask(t, sub, "g1", map[string]any{"n": 1})
	d := readDelivery(t, first.Next(t, testutil.Timeout))
	require.Equal(t, id, d.ID)
	require.Equal(t, 1, d.Metadata.Attempt)

	second := testutil.DialTaskWorker(t, s, 64)
	commandData(t, testutil.JoinWorkers(t, second.Client, "g1"))
	require.NoError(t, first.Close())
	left := time.Now()

	d = readDelivery(t, second.Next(t, 1500*time.Millisecond))
	assert.Less(t, time.Since(left), 1500*time.Millisecond)
	assert.Equal(t, id, d.ID)
	assert.Equal(t, 2, d.Metadata.Attempt)
	got := testutil.Command(t, sub, "op.task.get", map[string]any{"task_id": id})
	assert.Equal(t, "running", got["state"])
	assert.Equal(t, 2.0, got["attempts"])
}

// In prod the lane is closed unless ARQONBUS_ENABLE_PROTOTYPE_RSI=true:
// operator.join answers FEATURE_DISABLED, naming the variable; with it the
// join works.
func TestTheLaneIsClosedInProdUnlessThePrototypeVariableIsSet(t *testing.T) {
	prod := func(rsi bool) testutil.Option {
		return testutil.WithConfig(func(c *config.Config) {
			c.Environment = config.ProfileProd
			c.EnablePrototypeRSI = rsi
		})
	}
	t.Run("closed without the variable", func(t *testing.T) {
		s := testutil.StartServer(t, prod(false))
		w := testutil.DialTaskWorker(t, s, 64)
		r := testutil.JoinWorkers(t, w.Client, "g1")
		assert.Equal(t, protocol.StatusError, r.Status)
		assert.Equal(t, string(protocol.CodeFeatureDisabled), r.ErrorCode)
		assert.Contains(t, r.Error, "ARQONBUS_ENABLE_PROTOTYPE_RSI")
		w.Quiet(t)
	})
	t.Run("open with it", func(t *testing.T) {
		s := testutil.StartServer(t, prod(true))
		w := testutil.DialTaskWorker(t, s, 64)
		assert.Equal(t, map[string]any{"group": "g1", "worker": w.ID()}, commandData(t, testutil.JoinWorkers(t, w.Client, "g1")))
		sub := testutil.Dial(t, s)
		id := testutil.SubmitTask(t, sub, "g1", map[string]any{"n": 1})
		assert.Equal(t, id, readDelivery(t, w.Next(t, testutil.Timeout)).ID)
	})
}

// Shutdown stops the lanes in order: the connections (the workers) close
// first, each leaving its groups, then the dispatcher stops, then storage
// (with the queue) closes.
func TestShutdownStopsTheDispatcherAfterTheWorkersLeft(t *testing.T) {
	s := testutil.StartServer(t)
	w := testutil.DialTaskWorker(t, s, 64)
	commandData(t, testutil.JoinWorkers(t, w.Client, "g1"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, 1001, testutil.ExpectClose(t, w.Client, testutil.Timeout))

	logs := s.Logs.String()
	disconnected := strings.Index(logs, `msg="client disconnected" client_id=`+w.ID())
	stopped := strings.Index(logs, `msg="task dispatcher stopped"`)
	closed := strings.Index(logs, "msg=stopped")
	require.NotEqual(t, -1, disconnected, "the worker's disconnect is logged:\n%s", logs)
	require.NotEqual(t, -1, stopped, "the dispatcher's stop is logged:\n%s", logs)
	require.NotEqual(t, -1, closed, "the node's stop is logged:\n%s", logs)
	assert.Less(t, disconnected, stopped, "the workers left before the dispatcher stopped")
	assert.Less(t, stopped, closed, "the dispatcher stopped before the node")
}
