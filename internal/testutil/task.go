package testutil

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// The work queue's frames (SPEC §11.1), as every tier's tests send them.

var taskIDForm = regexp.MustCompile(`^task_[0-9a-f]{32}$`)

// JoinWorkers sends operator.join for group and returns its one reply.
func JoinWorkers(t testing.TB, c *client.Client, group string) *protocol.Envelope {
	t.Helper()
	return Request(t, c, &protocol.Envelope{Type: protocol.TypeOperatorJoin,
		Payload: protocol.Object(map[string]string{"group": group})})
}

// MustJoinWorkers makes c a worker of group, failing unless the reply is
// the documented one: a success whose data is {group, worker: c's id}.
func MustJoinWorkers(t testing.TB, c *client.Client, group string) {
	t.Helper()
	r := JoinWorkers(t, c, group)
	if r.Type != protocol.TypeResponse || r.Status != protocol.StatusSuccess {
		t.Fatalf("join %s: %s", group, protocol.Encode(r))
	}
	var p struct {
		Data struct{ Group, Worker string }
	}
	if err := json.Unmarshal(r.Payload, &p); err != nil || p.Data.Group != group || p.Data.Worker != c.ID() {
		t.Fatalf("join %s: want data {group:%q, worker:%q}, got %s", group, group, c.ID(), r.Payload)
	}
}

// SubmitTask submits task to group with op.task.submit and returns the
// task id, failing unless the reply names a task id and the group.
func SubmitTask(t testing.TB, c *client.Client, group string, task any) string {
	t.Helper()
	data := Command(t, c, "op.task.submit", map[string]any{"group": group, "task": task})
	id, _ := data["task_id"].(string)
	if !taskIDForm.MatchString(id) || data["group"] != group {
		t.Fatalf("op.task.submit to %s answered %v", group, data)
	}
	return id
}

// TaskInfo is op.task.get's data for id.
func TaskInfo(t testing.TB, c *client.Client, id string) map[string]any {
	t.Helper()
	return Command(t, c, "op.task.get", map[string]any{"task_id": id})
}

// AnswerTask sends c's completion of task id with status and payload
// (none when empty) and returns its one reply.
func AnswerTask(t testing.TB, c *client.Client, id, status, payload string) *protocol.Envelope {
	t.Helper()
	env := &protocol.Envelope{Type: protocol.TypeResponse, RequestID: id, Status: status}
	if payload != "" {
		env.Payload = json.RawMessage(payload)
	}
	return Request(t, c, env)
}

// RequireTaskAck fails unless r acknowledges the completion of task id in
// state: a message_response whose payload is {task_id, state}.
func RequireTaskAck(t testing.TB, r *protocol.Envelope, id, state string) {
	t.Helper()
	want := map[string]any{"task_id": id, "state": state}
	var got map[string]any
	if r.Type != protocol.TypeMessageResponse || json.Unmarshal(r.Payload, &got) != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("completion of %s: want a message_response with %v, got %s", id, want, protocol.Encode(r))
	}
}

// CompleteTask answers task id with success and requires the done
// acknowledgement.
func CompleteTask(t testing.TB, c *client.Client, id string) {
	t.Helper()
	RequireTaskAck(t, AnswerTask(t, c, id, protocol.StatusSuccess, `{"ok":true}`), id, "done")
}

// TaskWorker is a connection serving the work queue whose frames other
// than replies to its own requests (task deliveries) arrive on a channel.
type TaskWorker struct {
	*client.Client
	frames chan []byte
}

// DialTaskWorker connects a TaskWorker to s that keeps up to buffer
// unread frames (one more fails the test); it closes when the test ends.
func DialTaskWorker(t testing.TB, s *Server, buffer int) *TaskWorker {
	t.Helper()
	w := &TaskWorker{frames: make(chan []byte, buffer)}
	w.Client = Dial(t, s, client.Options{OnFrame: func(data []byte) {
		select {
		case w.frames <- append([]byte(nil), data...):
		default:
			t.Errorf("worker %s: frame buffer full; dropped %s", w.ID(), data)
		}
	}})
	return w
}

// Next returns the next frame the worker received, failing after wait.
func (w *TaskWorker) Next(t testing.TB, wait time.Duration) []byte {
	t.Helper()
	select {
	case f := <-w.frames:
		return f
	case <-time.After(wait):
		t.Fatalf("no frame for worker %s within %s", w.ID(), wait)
		return nil
	}
}

// Frames is the channel the worker's frames arrive on, for tests that
// read them in a loop of their own.
func (w *TaskWorker) Frames() <-chan []byte { return w.frames }

// Quiet proves the worker received nothing beyond what the test read: a
// ping's reply comes back, so the connection is alive and every frame the
// server sent before it has arrived.
func (w *TaskWorker) Quiet(t testing.TB) {
	t.Helper()
	Command(t, w.Client, "ping", nil)
	select {
	case f := <-w.frames:
		t.Fatalf("unexpected frame for worker %s: %s", w.ID(), f)
	default:
	}
}
