package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// optTaskTimeout is the option of `arqon worker`: a bound on each task's
// command. It is not the --timeout before the command name, which bounds
// connecting and each reply.
var optTaskTimeout = option{name: "timeout", value: "DURATION", help: "kill a task's command after DURATION, e.g. 30s or 5m (default: no limit)"}

// The limits of what a worker keeps of a task's command.
const (
	// maxTaskOutput bounds the stdout kept as a task's result, in bytes: the
	// completion must fit in the server's frame limit
	// (ARQONBUS_MAX_MESSAGE_SIZE, default 1 MiB) with room for escaping.
	maxTaskOutput = 512 << 10
	// stderrTail is how much of the end of a failed command's stderr, in
	// bytes, goes into its result.
	stderrTail = 4 << 10
)

// The stopping of a task's command.
const (
	// terminateGrace is how long a command has after SIGTERM (Ctrl-C, or the
	// connection ending) before SIGKILL; with interruptCloseGrace it stays
	// within interruptGrace.
	terminateGrace = 100 * time.Millisecond
	// pipeGrace is how long a worker waits, once the command has exited, for
	// the processes it left behind to close its stdout and stderr.
	pipeGrace = time.Second
)

// taskCommand is the command of the work queue's task deliveries.
const taskCommand = "op.task"

// workerJob is a checked `arqon worker` command line.
type workerJob struct {
	group   string
	argv    []string      // the command run for each task
	timeout time.Duration // bound on each run; 0: none
}

// parseWorker checks `worker GROUP [--timeout D] -- CMD [ARG...]`: options
// and the group before "--", the command after it, which must be found.
func parseWorker(sc subcommand, args []string) (*workerJob, error) {
	i := slices.Index(args, "--")
	if i < 0 {
		return nil, errors.New(`needs "--" before the command it runs`)
	}
	head, argv := args[:i], args[i+1:]
	pos, opts, err := splitOptions(sc, head)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 || pos[0] == "" {
		return nil, fmt.Errorf(`takes one GROUP before "--", got %q`, pos)
	}
	if len(argv) == 0 {
		return nil, errors.New(`needs a command after "--"`)
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("cannot run the command: %w", err)
	}
	w := &workerJob{group: pos[0], argv: argv}
	if v, ok := opts[optTaskTimeout.name]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--timeout must be a positive duration such as 30s or 5m, got %q", v)
		}
		w.timeout = d
	}
	return w, nil
}

// task is a delivered task as a worker reads it.
type task struct {
	id      string
	group   string
	attempt int
	body    json.RawMessage // the task object, the command's stdin
}

// readTask reads a task delivery; ok is false for any other frame. Metadata
// it cannot read is reported in metaErr; the task then runs with the
// worker's group and attempt 0.
func readTask(env *protocol.Envelope, group string) (t task, ok bool, metaErr error) {
	if env.Type != protocol.TypeCommand || env.Command != taskCommand || env.ID == "" {
		return task{}, false, nil
	}
	var meta struct {
		Group   string `json:"group"`
		Attempt int    `json:"attempt"`
	}
	if len(env.Metadata) > 0 {
		if err := json.Unmarshal(env.Metadata, &meta); err != nil {
			meta.Group, meta.Attempt, metaErr = "", 0, err
		}
	}
	if meta.Group == "" {
		meta.Group = group
	}
	body := env.Payload
	if len(body) == 0 {
		body = json.RawMessage(`{}`)
	}
	return task{id: env.ID, group: meta.Group, attempt: meta.Attempt, body: body}, true, metaErr
}

// work joins the workers of w.group and runs w.argv for each delivered task,
// one at a time in arrival order (deliveries beyond the one running wait in
// the client's queue), answering each with its result. A signal ends it with
// exitOK; a refused join or the connection ending with exitFailure.
func work(ctx context.Context, c *client.Client, w *workerJob, replyTimeout time.Duration, server string, stderr io.Writer) int {
	join := &protocol.Envelope{Type: protocol.TypeOperatorJoin, Payload: protocol.Object(map[string]string{"group": w.group})}
	jc, cancel := context.WithTimeout(ctx, replyTimeout)
	r, err := c.Request(jc, join)
	cancel()
	if ctx.Err() != nil {
		return exitOK
	}
	if err == nil {
		err = client.ReplyError(r)
	}
	if err != nil {
		fmt.Fprintf(stderr, "arqon: join %s: %v\n", w.group, err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "arqon: worker of %s on %s; Ctrl-C to stop\n", w.group, server)
	for {
		env, err := c.Recv(ctx)
		if ctx.Err() != nil {
			return exitOK // a signal wins over queued deliveries
		}
		if err != nil {
			return connectionEnded(c, stderr, "")
		}
		t, ok, metaErr := readTask(env, w.group)
		if !ok {
			fmt.Fprintf(stderr, "arqon: ignored a frame that is no task: %s\n", protocol.Clip(string(protocol.Encode(env))))
			continue
		}
		if metaErr != nil {
			fmt.Fprintf(stderr, "arqon: task %s: unreadable metadata (%v); running it as attempt 0 of %s\n", t.id, metaErr, t.group)
		}
		if code, done := runTask(ctx, c, w, t, replyTimeout, stderr); done {
			return code
		}
	}
}

// connectionEnded reports the end of the connection, after what (a note on
// the task it cut short, or ""), and returns exitFailure.
func connectionEnded(c *client.Client, stderr io.Writer, what string) int {
	if code, text := c.CloseCode(); code != 0 {
		fmt.Fprintf(stderr, "arqon: connection ended%s (close %d %s)\n", what, code, text)
	} else {
		fmt.Fprintf(stderr, "arqon: connection ended%s: %v\n", what, c.Err())
	}
	return exitFailure
}

// runTask runs one task and answers it. done says the worker must end, with
// code: a signal or the connection ending cut the task short (it is left
// unanswered, so the server hands it to another worker), or the command
// could not be started at all (a fault of this worker, not of the task).
func runTask(ctx context.Context, c *client.Client, w *workerJob, t task, replyTimeout time.Duration, stderr io.Writer) (code int, done bool) {
	o := runCommand(ctx, c.Done(), w, t)
	head := fmt.Sprintf("arqon: task %s attempt %d", t.id, t.attempt)
	switch {
	case o.startErr != nil:
		fmt.Fprintf(stderr, "%s not run, left unanswered: %v\n", head, o.startErr)
		return exitFailure, true
	case o.stopped && ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s stopped after %s by the signal, left unanswered\n", head, roundDuration(o.took))
		return exitOK, true
	case o.stopped:
		return connectionEnded(c, stderr, fmt.Sprintf(" while task %s attempt %d ran", t.id, t.attempt)), true
	}
	status, payload := o.result()
	line := fmt.Sprintf("%s %s%s %s", head, status, o.note(w.timeout), roundDuration(o.took))
	rc, cancel := context.WithTimeout(ctx, replyTimeout)
	defer cancel()
	r, err := c.Request(rc, &protocol.Envelope{Type: protocol.TypeResponse, RequestID: t.id, Status: status, Payload: payload})
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s, stopped by the signal before the server's reply\n", line)
		return exitOK, true
	case errors.Is(err, client.ErrClosed):
		return connectionEnded(c, stderr, fmt.Sprintf(" before the reply to task %s attempt %d", t.id, t.attempt)), true
	case err != nil:
		fmt.Fprintf(stderr, "%s, not known to be recorded: %v\n", line, err)
	case client.ReplyError(r) != nil:
		fmt.Fprintf(stderr, "%s, not recorded: %v\n", line, client.ReplyError(r))
	default:
		var ack struct {
			State string `json:"state"`
		}
		if json.Unmarshal(r.Payload, &ack) != nil || ack.State == "" {
			fmt.Fprintf(stderr, "%s, recorded (the reply names no state: %s)\n", line, protocol.Clip(string(r.Payload)))
			break
		}
		fmt.Fprintf(stderr, "%s, recorded as %s\n", line, ack.State)
	}
	return exitOK, false
}

// outcome is what running a task's command came to.
type outcome struct {
	stdout   limitedBuffer
	stderr   tailBuffer
	exitCode int // -1 when killed by a signal
	timedOut bool
	stopped  bool  // by a signal or the connection ending: no result
	startErr error // the command did not start: no result
	took     time.Duration
}

// runCommand runs w.argv for t in a process group of its own, feeding it
// the task and collecting its output, until it exits, --timeout kills it
// (SIGKILL to the group), or ctx or gone ends (SIGTERM to the group, SIGKILL
// terminateGrace later).
func runCommand(ctx context.Context, gone <-chan struct{}, w *workerJob, t task) *outcome {
	o := &outcome{stdout: limitedBuffer{max: maxTaskOutput}, stderr: tailBuffer{max: stderrTail}}
	cmd := exec.Command(w.argv[0], w.argv[1:]...)
	cmd.Stdin = bytes.NewReader(t.body)
	cmd.Stdout, cmd.Stderr = &o.stdout, &o.stderr
	cmd.Env = append(os.Environ(), "ARQON_TASK_ID="+t.id, "ARQON_TASK_GROUP="+t.group, "ARQON_TASK_ATTEMPT="+strconv.Itoa(t.attempt))
	cmd.SysProcAttr = taskProcAttr()
	cmd.WaitDelay = pipeGrace
	began := time.Now()
	if err := cmd.Start(); err != nil {
		o.startErr = err
		return o
	}
	exited := make(chan struct{})
	go func() {
		// Wait's error says no more than ProcessState does: a non-zero
		// exit, or pipes left open past pipeGrace (the output is kept).
		_ = cmd.Wait()
		close(exited)
	}()
	var deadline <-chan time.Time
	if w.timeout > 0 {
		timer := time.NewTimer(w.timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	select {
	case <-exited:
	case <-deadline:
		o.timedOut = true
		killTask(cmd.Process)
		<-exited
	case <-ctx.Done():
		o.stopped = true
	case <-gone:
		o.stopped = true
	}
	if o.stopped {
		terminateTask(cmd.Process)
		select {
		case <-exited:
		case <-time.After(terminateGrace):
			killTask(cmd.Process)
			<-exited
		}
	}
	o.took = time.Since(began)
	o.exitCode = cmd.ProcessState.ExitCode()
	return o
}

// result is the status and payload that answer the task: a JSON object on
// stdout as it is, other stdout as {"output":…}; a failure (non-zero exit,
// --timeout, stdout over maxTaskOutput) as {"output","exit_code","stderr"}.
func (o *outcome) result() (status string, payload json.RawMessage) {
	out := o.stdout.buf.Bytes()
	if o.exitCode == 0 && !o.timedOut && !o.stdout.over {
		if trimmed := bytes.TrimSpace(out); len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
			return protocol.StatusSuccess, json.RawMessage(trimmed)
		}
		return protocol.StatusSuccess, protocol.Object(map[string]string{"output": string(out)})
	}
	failure := map[string]any{"output": string(out), "exit_code": o.exitCode, "stderr": string(o.stderr.bytes())}
	if o.timedOut {
		failure["timed_out"] = true
	}
	if o.stdout.over {
		failure["error"] = fmt.Sprintf("stdout over %d bytes; the output is cut there", maxTaskOutput)
	}
	return protocol.StatusError, protocol.Object(failure)
}

// note is the part of a task's stderr line that says why it failed.
func (o *outcome) note(timeout time.Duration) string {
	switch {
	case o.timedOut:
		return fmt.Sprintf(" (killed by --timeout %s)", timeout)
	case o.stdout.over:
		return fmt.Sprintf(" (stdout over %d bytes)", maxTaskOutput)
	case o.exitCode != 0:
		return fmt.Sprintf(" (exit status %d)", o.exitCode)
	}
	return ""
}

// roundDuration prints durations of a task the way a person reads them.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// limitedBuffer keeps the first max bytes written to it and notes that more
// came; it never fails a write, so the command is not cut short by EPIPE.
// Only the command's output copier writes to it; it is read after Wait.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// tailBuffer keeps the last max bytes written to it. Only the command's
// output copier writes to it; it is read after Wait.
type tailBuffer struct {
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if drop := len(b.buf) + len(p) - b.max; drop > 0 {
		b.buf = append(b.buf[:0], b.buf[drop:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) bytes() []byte { return b.buf }
