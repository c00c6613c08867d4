package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// fakeBus is a WebSocket server that greets each connection and hands it to
// the test, which then plays the server's part frame by frame.
type fakeBus struct {
	url   string
	conns chan *fakeConn
}

// startFakeBus starts a fakeBus; its connections are closed when the test
// ends.
func startFakeBus(t *testing.T) *fakeBus {
	t.Helper()
	b := &fakeBus{conns: make(chan *fakeConn, 4)}
	release := make(chan struct{})
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if ws.WriteMessage(websocket.TextMessage, protocol.Encode(protocol.Welcome("arq_client_w1", time.Now()))) != nil {
			return
		}
		b.conns <- &fakeConn{ws: ws}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handlers return, then the server closes
	b.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	return b
}

// accept returns the next connection.
func (b *fakeBus) accept(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-b.conns:
		c.t = t
		return c
	case <-time.After(testutil.Timeout):
		t.Fatal("nobody connected")
		return nil
	}
}

// fakeConn is one connection of a fakeBus, driven by the test goroutine.
type fakeConn struct {
	t  *testing.T
	ws *websocket.Conn
}

// frame is what a test reads of a client frame.
type frame struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	RequestID string          `json:"request_id"`
	Status    string          `json:"status"`
	Command   string          `json:"command"`
	Args      json.RawMessage `json:"args"`
	Payload   json.RawMessage `json:"payload"`
}

// read returns the next frame the client sent.
func (c *fakeConn) read() frame {
	c.t.Helper()
	require.NoError(c.t, c.ws.SetReadDeadline(time.Now().Add(testutil.Timeout)))
	var f frame
	require.NoError(c.t, c.ws.ReadJSON(&f))
	return f
}

// send writes one frame, given as JSON.
func (c *fakeConn) send(s string) {
	c.t.Helper()
	require.True(c.t, json.Valid([]byte(s)), "a valid frame: %s", s)
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, []byte(s)))
}

// readRest reads and drops the client's further frames, in the
// background, so that its close gets the close reply it waits for. The
// test must not read the connection any more.
func (c *fakeConn) readRest() {
	go func() {
		for {
			if _, _, err := c.ws.NextReader(); err != nil {
				return
			}
		}
	}()
}

// acceptJoin reads the worker's operator.join for group and accepts it.
func (c *fakeConn) acceptJoin(group string) {
	c.t.Helper()
	f := c.read()
	require.Equal(c.t, protocol.TypeOperatorJoin, f.Type)
	require.JSONEq(c.t, `{"group":"`+group+`"}`, string(f.Payload))
	c.send(`{"type":"response","id":"arq_r1","request_id":"` + f.ID + `","status":"success","payload":{"message":"joined","data":{"group":"` + group + `","worker":"arq_client_w1"}}}`)
}

// sendTask delivers a task as the server does.
func (c *fakeConn) sendTask(id, group string, attempt int, body string) {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"type":"command","id":%q,"version":"1.0","timestamp":"2026-01-02T03:04:05.000000Z","sender":"arqonbus","command":"op.task","payload":%s,"metadata":{"group":%q,"attempt":%d}}`,
		id, body, group, attempt))
}

// readCompletion reads the worker's answer to the task id.
func (c *fakeConn) readCompletion(id string) frame {
	c.t.Helper()
	f := c.read()
	require.Equal(c.t, protocol.TypeResponse, f.Type)
	require.Equal(c.t, id, f.RequestID)
	require.NotEmpty(c.t, f.ID)
	return f
}

// ack answers a completion as the server does once it is stored.
func (c *fakeConn) ack(f frame, state string) {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"type":"message_response","id":%q,"request_id":%q,"status":"success","payload":{"task_id":%q,"state":%q}}`,
		f.ID, f.ID, f.RequestID, state))
}

// runningArqon is a run of arqon in a goroutine.
type runningArqon struct {
	cancel context.CancelFunc
	status chan int
	stdout *testutil.LogBuffer
	stderr *testutil.LogBuffer
}

// startArqon runs arqon with args against url until the test cancels it or
// it ends; it is stopped and waited for when the test ends.
func startArqon(t *testing.T, url string, args ...string) *runningArqon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningArqon{cancel: cancel, status: make(chan int, 1), stdout: &testutil.LogBuffer{}, stderr: &testutil.LogBuffer{}}
	env := map[string]string{"ARQON_URL": url}
	go func() { a.status <- run(ctx, args, func(k string) string { return env[k] }, a.stdout, a.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.status:
		case <-time.After(testutil.ArqonInterruptBound):
			t.Error("arqon still running after the test")
		}
	})
	return a
}

// exit waits for the run's exit status.
func (a *runningArqon) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-a.status:
		a.status <- code // for the cleanup
		return code
	case <-time.After(testutil.Timeout):
		t.Fatalf("arqon still running\nstderr:\n%s", a.stderr.String())
		return 0
	}
}

const taskA = "task_0123456789abcdef0123456789abcdef"

func taskID(n int) string { return fmt.Sprintf("task_%032x", n) }

// startWorker runs `arqon worker GROUP flags -- sh -c script` against a
// fake bus and accepts its join.
func startWorker(t *testing.T, group string, flags []string, script string) (*runningArqon, *fakeConn) {
	t.Helper()
	bus := startFakeBus(t)
	args := append(append([]string{"worker", group}, flags...), "--", "/bin/sh", "-c", script)
	a := startArqon(t, bus.url, args...)
	c := bus.accept(t)
	c.acceptJoin(group)
	testutil.Eventually(t, func() bool { return strings.Contains(a.stderr.String(), "arqon: worker of "+group+" on ") },
		testutil.Timeout, "the worker's joined line")
	return a, c
}

// A command that prints a JSON object answers with that object as the
// payload; it sees the task on stdin and its id, group and attempt in the
// environment.
func TestWorkerAnswersAJSONObjectOnStdoutAsThePayload(t *testing.T) {
	a, c := startWorker(t, "resize", nil,
		`printf '{"id":"%s","group":"%s","attempt":%s,"task":%s}\n' "$ARQON_TASK_ID" "$ARQON_TASK_GROUP" "$ARQON_TASK_ATTEMPT" "$(cat)"`)
	c.sendTask(taskA, "resize", 2, `{"image":"cat.png","width":200}`)
	f := c.readCompletion(taskA)
	assert.Equal(t, protocol.StatusSuccess, f.Status)
	assert.JSONEq(t, `{"id":"`+taskA+`","group":"resize","attempt":2,"task":{"image":"cat.png","width":200}}`, string(f.Payload))
	c.ack(f, "done")
	testutil.Eventually(t, func() bool { return strings.Contains(a.stderr.String(), "recorded as done") },
		testutil.Timeout, "the task's line")
	assert.Regexp(t, `(?m)^arqon: task `+taskA+` attempt 2 success \S+, recorded as done$`, a.stderr.String())
	a.cancel()
	assert.Equal(t, exitOK, a.exit(t))
	assert.Empty(t, a.stdout.String(), "results go to the server, not stdout")
}

// Stdout that is no JSON object (text, a JSON array) is sent as
// {"output": stdout}, byte for byte.
func TestWorkerAnswersOtherStdoutAsOutput(t *testing.T) {
	a, c := startWorker(t, "g", nil, `if [ "$ARQON_TASK_ATTEMPT" = 1 ]; then printf 'hello\nworld\n'; else echo '[1,2]'; fi`)
	c.sendTask(taskID(1), "g", 1, `{}`)
	f := c.readCompletion(taskID(1))
	assert.Equal(t, protocol.StatusSuccess, f.Status)
	assert.JSONEq(t, `{"output":"hello\nworld\n"}`, string(f.Payload))
	c.ack(f, "done")
	c.sendTask(taskID(2), "g", 2, `{}`)
	f = c.readCompletion(taskID(2))
	assert.Equal(t, protocol.StatusSuccess, f.Status)
	assert.JSONEq(t, `{"output":"[1,2]\n"}`, string(f.Payload))
	c.ack(f, "done")
	a.cancel()
	assert.Equal(t, exitOK, a.exit(t))
}

// A non-zero exit answers status error with the output, the exit code and
// the end of stderr; only the last 4 KiB of stderr are kept.
func TestWorkerAnswersANonZeroExitAsAnError(t *testing.T) {
	a, c := startWorker(t, "g", nil,
		`echo partial; i=0; while [ $i -lt 600 ]; do printf 'line %04d\n' $i >&2; i=$((i+1)); done; echo oops >&2; exit 3`)
	c.sendTask(taskA, "g", 1, `{}`)
	f := c.readCompletion(taskA)
	assert.Equal(t, protocol.StatusError, f.Status)
	var p struct {
		Output   string `json:"output"`
		ExitCode *int   `json:"exit_code"`
		Stderr   string `json:"stderr"`
	}
	require.NoError(t, json.Unmarshal(f.Payload, &p))
	assert.Equal(t, "partial\n", p.Output)
	require.NotNil(t, p.ExitCode)
	assert.Equal(t, 3, *p.ExitCode)
	assert.Len(t, p.Stderr, stderrTail)
	assert.True(t, strings.HasSuffix(p.Stderr, "line 0599\noops\n"), "the end of stderr: %q", p.Stderr[len(p.Stderr)-40:])
	c.ack(f, "failed")
	testutil.Eventually(t, func() bool { return strings.Contains(a.stderr.String(), "recorded as failed") },
		testutil.Timeout, "the task's line")
	assert.Regexp(t, `(?m)^arqon: task `+taskA+` attempt 1 error \(exit status 3\) \S+, recorded as failed$`, a.stderr.String())
}

// A refused join (the lane closed, a role too low) ends the worker with
// status 1 and the server's error on stderr.
func TestWorkerExitsOneWhenItsJoinIsRefused(t *testing.T) {
	bus := startFakeBus(t)
	a := startArqon(t, bus.url, "worker", "g", "--", "/bin/sh", "-c", "cat")
	c := bus.accept(t)
	f := c.read()
	require.Equal(t, protocol.TypeOperatorJoin, f.Type)
	c.send(`{"type":"error","request_id":"` + f.ID + `","status":"error","error":"the prototype RSI lane is closed in prod","error_code":"FEATURE_DISABLED","payload":{}}`)
	c.readRest()
	assert.Equal(t, exitFailure, a.exit(t))
	assert.Contains(t, a.stderr.String(), "arqon: join g: FEATURE_DISABLED: the prototype RSI lane is closed in prod")
	assert.NotContains(t, a.stderr.String(), "worker of g")
	assert.Empty(t, a.stdout.String())
}

// Tasks delivered together run one at a time, in the order they arrived:
// each command logs its start and end, and takes a while in between, so
// overlapping runs would interleave.
func TestWorkerRunsTasksOneAtATimeInArrivalOrder(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	a, c := startWorker(t, "g", nil,
		`echo "start $ARQON_TASK_ID" >> '`+log+`'; sleep 0.05; echo "end $ARQON_TASK_ID" >> '`+log+`'; cat`)
	for i := 1; i <= 3; i++ {
		c.sendTask(taskID(i), "g", 1, fmt.Sprintf(`{"n":%d}`, i))
	}
	var want strings.Builder
	for i := 1; i <= 3; i++ {
		f := c.readCompletion(taskID(i))
		assert.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(f.Payload))
		c.ack(f, "done")
		fmt.Fprintf(&want, "start %s\nend %s\n", taskID(i), taskID(i))
	}
	got, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(got))
	a.cancel()
	assert.Equal(t, exitOK, a.exit(t))
}

// A completion the server refuses (the worker no longer holds the task) is
// reported, and the worker goes on with the next task.
func TestWorkerReportsARefusedCompletionAndGoesOn(t *testing.T) {
	a, c := startWorker(t, "g", nil, "cat")
	c.sendTask(taskID(1), "g", 1, `{"n":1}`)
	f := c.readCompletion(taskID(1))
	c.send(`{"type":"error","request_id":"` + f.ID + `","status":"error","error":"task not held by this worker","error_code":"NOT_FOUND","payload":{}}`)
	c.sendTask(taskID(2), "g", 1, `{"n":2}`)
	f = c.readCompletion(taskID(2))
	assert.JSONEq(t, `{"n":2}`, string(f.Payload), "the worker went on")
	c.ack(f, "done")
	testutil.Eventually(t, func() bool { return strings.Contains(a.stderr.String(), "recorded as done") },
		testutil.Timeout, "the second task's line")
	assert.Regexp(t, `(?m)^arqon: task `+taskID(1)+` attempt 1 success \S+, not recorded: NOT_FOUND: task not held by this worker$`, a.stderr.String())
}

// processGone reports whether pid has ended (gone, or a zombie nobody has
// reaped yet).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		// No /proc: signal 0 fails once the process is gone.
		p, err := os.FindProcess(pid)
		return err != nil || p.Signal(syscall.Signal(0)) != nil
	}
	// pid (comm) STATE …: the state follows the last ')'.
	s := string(stat)
	rest := s[strings.LastIndexByte(s, ')')+1:]
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// readPid waits for the file a task's command writes its child's pid to.
func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, testutil.Timeout, "the pid file %s", path)
	require.False(t, processGone(pid), "the task's process is alive before it is stopped")
	return pid
}

// --timeout kills a hung command, and what it started (its process group),
// and answers the task as an error.
func TestWorkerKillsAHungCommandAfterTheTimeoutAndAnswersError(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a, c := startWorker(t, "g", []string{"--timeout", "300ms"},
		`echo started; sleep 60 & echo $! > '`+pidFile+`'; wait`)
	c.sendTask(taskA, "g", 1, `{}`)
	pid := readPid(t, pidFile)
	f := c.readCompletion(taskA)
	assert.Equal(t, protocol.StatusError, f.Status)
	assert.JSONEq(t, `{"output":"started\n","exit_code":-1,"stderr":"","timed_out":true}`, string(f.Payload))
	testutil.Eventually(t, func() bool { return processGone(pid) }, testutil.Timeout, "the command's child killed")
	c.ack(f, "failed")
	testutil.Eventually(t, func() bool { return strings.Contains(a.stderr.String(), "recorded as failed") },
		testutil.Timeout, "the task's line")
	assert.Contains(t, a.stderr.String(), "error (killed by --timeout 300ms)")
}

// A signal while a task runs stops its command (SIGTERM to its process
// group), leaves the task unanswered for the server to hand on, and ends the
// worker with status 0.
func TestWorkerStopsOnASignalWithZeroAndLeavesTheRunningTaskUnanswered(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a, c := startWorker(t, "g", nil, `sleep 60 & echo $! > '`+pidFile+`'; wait`)
	c.sendTask(taskA, "g", 1, `{}`)
	pid := readPid(t, pidFile)
	a.cancel()
	assert.Equal(t, exitOK, a.exit(t))
	testutil.Eventually(t, func() bool { return processGone(pid) }, testutil.Timeout, "the command's child stopped")
	assert.Contains(t, a.stderr.String(), "arqon: task "+taskA+" attempt 1 stopped after ")
	// The next frame is the close, not a completion.
	require.NoError(t, c.ws.SetReadDeadline(time.Now().Add(testutil.Timeout)))
	_, data, err := c.ws.ReadMessage()
	assert.Error(t, err, "no completion was sent, got %s", data)
	assert.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "a normal close: %v", err)
}

// A signal while the worker waits for tasks ends it with status 0.
func TestWorkerStopsOnASignalWhileIdle(t *testing.T) {
	a, _ := startWorker(t, "g", nil, "cat")
	a.cancel()
	assert.Equal(t, exitOK, a.exit(t))
	assert.Empty(t, a.stdout.String())
}

// The connection ending ends the worker with status 1, idle or with a task
// running (whose command is stopped).
func TestWorkerExitsOneWhenTheConnectionEnds(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		a, c := startWorker(t, "g", nil, "cat")
		require.NoError(t, c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "drain")))
		assert.Equal(t, exitFailure, a.exit(t))
		assert.Contains(t, a.stderr.String(), "arqon: connection ended (close 1001 drain)")
	})
	t.Run("with a task running", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		a, c := startWorker(t, "g", nil, `sleep 60 & echo $! > '`+pidFile+`'; wait`)
		c.sendTask(taskA, "g", 1, `{}`)
		pid := readPid(t, pidFile)
		require.NoError(t, c.ws.UnderlyingConn().Close())
		assert.Equal(t, exitFailure, a.exit(t))
		assert.Contains(t, a.stderr.String(), "arqon: connection ended while task "+taskA+" attempt 1 ran")
		testutil.Eventually(t, func() bool { return processGone(pid) }, testutil.Timeout, "the command's child stopped")
	})
}

// Frames that are no task (a late reply, anything unasked) are reported and
// skipped; the worker goes on.
func TestWorkerSkipsFramesThatAreNoTask(t *testing.T) {
	a, c := startWorker(t, "g", nil, "cat")
	c.send(`{"type":"message","room":"r","channel":"c","payload":{"x":1}}`)
	c.sendTask(taskA, "g", 1, `{"n":1}`)
	f := c.readCompletion(taskA)
	assert.JSONEq(t, `{"n":1}`, string(f.Payload))
	c.ack(f, "done")
	testutil.Eventually(t, func() bool { return strings.Contains(a.stderr.String(), "recorded as done") },
		testutil.Timeout, "the task's line")
	assert.Contains(t, a.stderr.String(), "arqon: ignored a frame that is no task: ")
}

func TestWorkerCommandLines(t *testing.T) {
	sc, ok := lookup("worker")
	require.True(t, ok)
	w, err := parseWorker(sc, []string{"--timeout", "1m30s", "g", "--", "/bin/sh", "-c", "cat --help", "--timeout"})
	require.NoError(t, err)
	assert.Equal(t, &workerJob{group: "g", argv: []string{"/bin/sh", "-c", "cat --help", "--timeout"}, timeout: 90 * time.Second}, w)
	w, err = parseWorker(sc, []string{"g", "--", "sh"})
	require.NoError(t, err)
	assert.Equal(t, &workerJob{group: "g", argv: []string{"sh"}}, w, "no --timeout: no limit")
}

// The help of a worker says what a command sees and answers, and that the
// lane may be closed.
func TestWorkerAndTaskHelpExplainTheLane(t *testing.T) {
	_, out, _ := runArqon(t, nil, "worker", "--help")
	for _, want := range []string{"usage: arqon [flags] worker GROUP [--timeout DURATION] -- CMD [ARG...]",
		"ARQON_TASK_ID", "ARQON_TASK_GROUP", "ARQON_TASK_ATTEMPT", `{"output":"<stdout>"}`, "exit_code",
		"last 4 KiB", "NOT_FOUND", "SIGTERM", "FEATURE_DISABLED", "AUTHORIZATION_ERROR",
		"ARQONBUS_ENABLE_PROTOTYPE_RSI", `options (after the command name, before "--")`, "\n  --timeout DURATION "} {
		assert.Contains(t, out, want)
	}
	for _, args := range [][]string{{"task", "--help"}, {"help", "task"}} {
		_, out, _ = runArqon(t, nil, args...)
		for _, sc := range group("task") {
			assert.Contains(t, out, "\n  "+sc.synopsis()+" ")
		}
		assert.Contains(t, out, "FEATURE_DISABLED")
		assert.Contains(t, out, "ARQONBUS_ENABLE_PROTOTYPE_RSI")
	}
	_, out, _ = runArqon(t, nil, "--help")
	assert.Contains(t, out, "\n  worker GROUP [--timeout DURATION] -- CMD [ARG...] ")
}

// What follows "--" is the worker's command, not arqon's: its --help is
// not a help request.
func TestAHelpFlagAfterDashDashIsNotArqons(t *testing.T) {
	bus := startFakeBus(t)
	a := startArqon(t, bus.url, "worker", "g", "--", "/bin/sh", "-c", "cat", "--help")
	c := bus.accept(t)
	f := c.read()
	assert.Equal(t, protocol.TypeOperatorJoin, f.Type, "the worker connected and joined")
	a.cancel()
	assert.Equal(t, exitOK, a.exit(t))
}

// The arqon process itself, stopped with SIGTERM while a task runs, exits
// with status 0 within the interrupt bound and leaves no process of the task
// behind: even one that ignores SIGTERM is killed after terminateGrace.
func TestWorkerProcessStopsOnSIGTERMAndTakesItsTaskAlong(t *testing.T) {
	for name, script := range map[string]string{
		"a task that stops on SIGTERM": `sleep 60 & echo $! > "$PIDFILE"; wait`,
		"a task that ignores SIGTERM":  `trap '' TERM; sleep 60 & echo $! > "$PIDFILE"; wait`,
	} {
		t.Run(name, func(t *testing.T) {
			bus := startFakeBus(t)
			pidFile := filepath.Join(t.TempDir(), "pid")
			p := testutil.StartArqon(t, nil, []string{"ARQON_URL=" + bus.url, "PIDFILE=" + pidFile},
				"worker", "g", "--", "/bin/sh", "-c", script)
			c := bus.accept(t)
			c.acceptJoin("g")
			c.sendTask(taskA, "g", 1, `{}`)
			pid := readPid(t, pidFile)
			c.readRest()
			require.NoError(t, p.Process().Signal(syscall.SIGTERM))
			assert.Equal(t, exitOK, p.WaitExit(t, testutil.ArqonInterruptBound))
			testutil.Eventually(t, func() bool { return processGone(pid) }, testutil.Timeout, "the task's process stopped")
		})
	}
}
