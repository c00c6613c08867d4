//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// taskNode starts an in-process dev node on srv (strict storage, so the
// lane is open and the queue lives in Redis) with the work queue's timing
// shortened by f.
func taskNode(t *testing.T, srv *redistest.RedisServer, f func(c *config.Config)) *testutil.Server {
	t.Helper()
	return startOn(t, srv, config.ModeStrict, testutil.WithConfig(func(c *config.Config) {
		c.TaskPollInterval = 50 * time.Millisecond
		if f != nil {
			f(c)
		}
	}))
}

// taskDelivery is an op.task command frame as a worker reads it.
type taskDelivery struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
	Metadata struct {
		Group   string `json:"group"`
		Attempt int    `json:"attempt"`
	} `json:"metadata"`
}

// taskWorker is a testutil.TaskWorker whose frames are read as task
// deliveries.
type taskWorker struct{ *testutil.TaskWorker }

// dialTaskWorker connects a worker to s; the connection closes when the
// test ends.
func dialTaskWorker(t *testing.T, s *testutil.Server) *taskWorker {
	t.Helper()
	return &taskWorker{testutil.DialTaskWorker(t, s, 1024)}
}

// next returns the next task delivered to the worker within wait.
func (w *taskWorker) next(t *testing.T, wait time.Duration) taskDelivery {
	t.Helper()
	return decodeDelivery(t, w.Next(t, wait))
}

func decodeDelivery(t testing.TB, raw []byte) taskDelivery {
	t.Helper()
	var d taskDelivery
	if err := json.Unmarshal(raw, &d); err != nil || d.Type != protocol.TypeCommand || d.Command != "op.task" {
		t.Fatalf("want an op.task command, got %s (%v)", raw, err)
	}
	return d
}

// answer sends the worker's completion of task id (success) and returns
// its one reply.
func (w *taskWorker) answer(ctx context.Context, id string, result any) (*protocol.Envelope, error) {
	return w.Request(ctx, &protocol.Envelope{Type: protocol.TypeResponse, ID: protocol.NewMessageID(),
		RequestID: id, Status: protocol.StatusSuccess, Payload: protocol.Object(result)})
}

// taskAckState is the state a completion's message_response names.
func taskAckState(r *protocol.Envelope) string {
	var p struct {
		State string `json:"state"`
	}
	_ = json.Unmarshal(r.Payload, &p)
	return p.State
}

// taskState reads a task's state and attempts with op.task.get.
func taskState(t *testing.T, c *client.Client, id string) (string, int) {
	t.Helper()
	data := testutil.Command(t, c, "op.task.get", map[string]any{"task_id": id})
	st, _ := data["state"].(string)
	n, _ := data["attempts"].(float64)
	return st, int(n)
}

// taskStreamKey finds the stream of group on rc (the group name is the
// test's own, so exactly one stream ends with it).
func taskStreamKey(t *testing.T, rc *redis.Client, group string) string {
	t.Helper()
	keys := scanKeys(t, rc, "arqonbus:{q:*}:s:"+globEscape(group))
	if len(keys) != 1 {
		t.Fatalf("streams of group %s: %q", group, keys)
	}
	return keys[0]
}

// logLines returns the lines of log holding every one of parts.
func logLines(log string, parts ...string) []string {
	var out []string
	for line := range strings.SplitSeq(log, "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// autoWorker completes every task its connection is handed, in order
// (prefetch 1), and records what it got and what the server answered. A
// completion answered STORAGE_UNAVAILABLE was not recorded: the worker
// answers again until it gets done or NOT_FOUND (the task was no longer
// held: its delivery expired, or the first answer was stored although its
// reply timed out). Stop ends it.
type autoWorker struct {
	*taskWorker
	mu        sync.Mutex
	got       []taskDelivery // every delivery, in order
	done      map[string]int // task id -> done acknowledgements
	notFound  map[string]int // task id -> NOT_FOUND answers
	retries   int            // answers repeated after STORAGE_UNAVAILABLE
	unexpect  []string       // any other reply
	stop      chan struct{}
	stoppedWG sync.WaitGroup
}

// startAutoWorker joins a worker of group on s and completes its tasks
// until the test ends.
func startAutoWorker(t *testing.T, s *testutil.Server, group string) *autoWorker {
	t.Helper()
	a := &autoWorker{taskWorker: dialTaskWorker(t, s), done: map[string]int{}, notFound: map[string]int{},
		stop: make(chan struct{})}
	testutil.MustJoinWorkers(t, a.Client, group)
	a.stoppedWG.Add(1)
	go a.run()
	t.Cleanup(a.Stop)
	return a
}

// Stop ends the worker's loop; it is idempotent.
func (a *autoWorker) Stop() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.stoppedWG.Wait()
}

func (a *autoWorker) run() {
	defer a.stoppedWG.Done()
	for {
		var raw []byte
		select {
		case <-a.stop:
			return
		case raw = <-a.Frames():
		}
		var d taskDelivery
		if err := json.Unmarshal(raw, &d); err != nil || d.Command != "op.task" {
			a.note(fmt.Sprintf("unexpected frame %s", raw))
			continue
		}
		a.mu.Lock()
		a.got = append(a.got, d)
		a.mu.Unlock()
		a.finish(d)
	}
}

// finish answers d until the answer is done or NOT_FOUND, or the worker
// stops.
func (a *autoWorker) finish(d taskDelivery) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := a.answer(ctx, d.ID, map[string]any{"by": a.ID()})
		cancel()
		var code string
		switch {
		case errors.Is(err, client.ErrClosed):
			return
		case err != nil:
			a.note(fmt.Sprintf("answer %s: %v", d.ID, err))
			return
		case r.Type == protocol.TypeMessageResponse && taskAckState(r) == "done":
			a.mu.Lock()
			a.done[d.ID]++
			a.mu.Unlock()
			return
		default:
			code = r.ErrorCode
		}
		switch code {
		case string(protocol.CodeNotFound):
			a.mu.Lock()
			a.notFound[d.ID]++
			a.mu.Unlock()
			return
		case string(protocol.CodeStorageUnavailable):
			a.mu.Lock()
			a.retries++
			a.mu.Unlock()
			select {
			case <-a.stop:
				return
			case <-time.After(50 * time.Millisecond): // back off before answering again
			}
		default:
			a.note(fmt.Sprintf("answer %s: %s", d.ID, protocol.Encode(r)))
			return
		}
	}
}

func (a *autoWorker) note(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unexpect = append(a.unexpect, s)
}
