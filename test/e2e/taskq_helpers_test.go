//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// taskDeliveryCommand is the command of a task delivery (SPEC §11.1).
const taskDeliveryCommand = "op.task"

// taskState is the data of an op.task.get reply.
type taskState struct {
	TaskID   string          `json:"task_id"`
	Group    string          `json:"group"`
	State    string          `json:"state"`
	Attempts int             `json:"attempts"`
	Result   json.RawMessage `json:"result"`
}

// getTask runs op.task.get for id on c.
func getTask(t *testing.T, c *client.Client, id string) taskState {
	t.Helper()
	raw, err := c.Command(testutil.Ctx(t), "op.task.get", map[string]string{"task_id": id})
	require.NoError(t, err, "op.task.get %s", id)
	var s taskState
	require.NoError(t, json.Unmarshal(raw, &s), "op.task.get %s data: %s", id, raw)
	return s
}

// delivery is one task frame a queueWorker received.
type delivery struct {
	taskID  string
	attempt int
}

// workerResult is the payload a queueWorker answers a task with: who did
// which delivery.
type workerResult struct {
	Worker  string `json:"worker"`
	Attempt int    `json:"attempt"`
}

// queueWorker is a worker of the work queue on a plain client: for each
// delivered task it answers success with a workerResult after a small
// random delay, one task at a time, and records every frame it receives.
// Told to hold, it keeps the next task unanswered (a worker busy when it
// dies). Its fields are guarded by mu; the counters are read while it runs.
type queueWorker struct {
	name string
	c    *client.Client

	hold atomic.Bool   // keep the next delivered task unanswered
	held chan string   // the held task's id, once
	done chan struct{} // closed when the reading goroutine has ended

	deliveries, completions atomic.Int64 // tasks received; done replies received

	mu          sync.Mutex
	received    []delivery
	doneReplies map[string]int // task id → message_response with state done
	notFound    map[string]int // task id → NOT_FOUND answers to its completion
	other       []string       // any other frame, as text
	answered    map[string]string
	sendErr     error
}

// startQueueWorker connects a worker to url, joins group and starts
// serving. Serving ends with the connection: at kill, or when the test ends.
func startQueueWorker(t *testing.T, name, url, group string) *queueWorker {
	t.Helper()
	w := &queueWorker{name: name, c: dial(t, url), held: make(chan string, 1), done: make(chan struct{}),
		doneReplies: map[string]int{}, notFound: map[string]int{}, answered: map[string]string{}}
	testutil.MustJoinWorkers(t, w.c, group)
	go w.serve()
	t.Cleanup(func() { _ = w.c.Close(); <-w.done })
	return w
}

// serve reads frames until the connection ends.
func (w *queueWorker) serve() {
	defer close(w.done)
	seq := 0
	for {
		env, err := w.c.Recv(context.Background())
		if err != nil {
			return
		}
		switch {
		case env.Type == protocol.TypeCommand && env.Command == taskDeliveryCommand:
			w.task(env, &seq)
		case env.Type == protocol.TypeMessageResponse && env.Status == protocol.StatusSuccess:
			var ack struct {
				TaskID string `json:"task_id"`
				State  string `json:"state"`
			}
			_ = json.Unmarshal(env.Payload, &ack)
			w.mu.Lock()
			if ack.State == "done" && w.answered[env.ID] == ack.TaskID {
				w.doneReplies[ack.TaskID]++
				w.completions.Add(1)
			} else {
				w.other = append(w.other, string(protocol.Encode(env)))
			}
			w.mu.Unlock()
		case env.Type == protocol.TypeError && env.ErrorCode == string(protocol.CodeNotFound):
			// A completion that came after the task had gone to another
			// worker (its delivery expired): legal, and not recorded.
			w.mu.Lock()
			if id, ok := w.answered[env.RequestID]; ok {
				w.notFound[id]++
			} else {
				w.other = append(w.other, string(protocol.Encode(env)))
			}
			w.mu.Unlock()
		default:
			w.mu.Lock()
			w.other = append(w.other, string(protocol.Encode(env)))
			w.mu.Unlock()
		}
	}
}

// task records a delivery and answers it, unless told to hold it.
func (w *queueWorker) task(env *protocol.Envelope, seq *int) {
	var meta struct {
		Group   string `json:"group"`
		Attempt int    `json:"attempt"`
	}
	_ = json.Unmarshal(env.Metadata, &meta)
	w.mu.Lock()
	w.received = append(w.received, delivery{taskID: env.ID, attempt: meta.Attempt})
	w.mu.Unlock()
	w.deliveries.Add(1)
	if w.hold.CompareAndSwap(true, false) {
		w.held <- env.ID
		return
	}
	// The work the task stands for.
	time.Sleep(time.Millisecond + rand.N(4*time.Millisecond))
	*seq++
	rid := fmt.Sprintf("r_%s_%05d", w.name, *seq)
	w.mu.Lock()
	w.answered[rid] = env.ID
	w.mu.Unlock()
	err := w.c.Send(&protocol.Envelope{ID: rid, Type: protocol.TypeResponse, RequestID: env.ID,
		Status: protocol.StatusSuccess, Payload: protocol.Object(workerResult{Worker: w.name, Attempt: meta.Attempt})})
	if err != nil {
		w.mu.Lock()
		if w.sendErr == nil {
			w.sendErr = err
		}
		w.mu.Unlock()
	}
}

// holdNext makes the worker keep its next task unanswered and returns that
// task's id once it arrived.
func (w *queueWorker) holdNext(t *testing.T, within time.Duration) string {
	t.Helper()
	w.hold.Store(true)
	select {
	case id := <-w.held:
		return id
	case <-time.After(within):
		t.Fatalf("worker %s was delivered no task to hold within %s", w.name, within)
		return ""
	}
}

// kill closes the worker's socket without a close frame, as a crashed
// process would, and waits until it no longer reads.
func (w *queueWorker) kill() {
	_ = w.c.Conn().UnderlyingConn().Close()
	<-w.done
}

// waitEnded waits for the worker's connection to end by itself (its node
// died).
func (w *queueWorker) waitEnded(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(within):
		t.Fatalf("worker %s still connected %s after its node died", w.name, within)
	}
}
