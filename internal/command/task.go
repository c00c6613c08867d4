package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
)

// The work queue's names (SPEC §11.1) that are not rows of the table:
// operator.join is an envelope type, a task completion a response frame.
// Both are counted in commands_total under these labels.
const (
	commandTruthVerify = "truth.verify"
	labelOperatorJoin  = protocol.TypeOperatorJoin
	labelTaskComplete  = "op.task.complete"
	// varPrototypeRSI opens the lane outside dev.
	varPrototypeRSI = "ARQONBUS_ENABLE_PROTOTYPE_RSI"
)

// Bounds of the op.task.* arguments.
const (
	defaultDeadLimit = 100  // dead letters per op.task.dead
	maxDeadLimit     = 1000 // dead letters per op.task.dead
)

var (
	groupProblem = fmt.Sprintf("must be 1-%d characters of [A-Za-z0-9_.:-]", taskq.MaxGroupLen)
	argGroup     = Arg{Name: "group", Type: ArgString, Required: true, Description: "the worker group, " + groupProblem}
)

// taskCommands are the rows of the work queue. The lane's gate runs before
// them (see run); their roles depend on AuthEnabled, so help shows the
// role this node asks for.
func (r *Registry) taskCommands() []*Command {
	operator := auth.RoleUser
	if r.deps.AuthEnabled {
		operator = auth.RoleOperator
	}
	return []*Command{
		{Name: "op.task.submit", Summary: "queue a task for a worker group of your tenant (prototype lane)", Role: auth.RoleUser,
			Args: []Arg{argGroup, {Name: "task", Type: ArgAny, Required: true,
				Description: "a JSON object, delivered to one worker as sent, up to " + config.VarTaskMaxBytes + " bytes"}},
			Handler: r.taskSubmit},
		{Name: commandTruthVerify, Summary: "queue the args object as a task for group " + taskq.TruthGroup + " (prototype lane)",
			Role: auth.RoleUser, FreeArgs: true,
			Args: []Arg{{Name: "*", Type: ArgAny,
				Description: "any arguments: the whole args object (or {}) is the task, up to " + config.VarTaskMaxBytes + " bytes"}},
			Handler: r.truthVerify},
		{Name: "op.task.get", Summary: "a task of your tenant: its state, deliveries and result (prototype lane)", Role: auth.RoleUser,
			Args:    []Arg{{Name: "task_id", Type: ArgString, Required: true, Description: "the id op.task.submit answered"}},
			Handler: r.taskGet},
		{Name: "op.task.dead", Summary: "the dead-letter list of a worker group of your tenant, oldest first (prototype lane)", Role: operator,
			Args:    []Arg{argGroup, {Name: "limit", Type: ArgInteger, Description: fmt.Sprintf("1-%d, default %d", maxDeadLimit, defaultDeadLimit)}},
			Handler: r.taskDead},
		{Name: "op.worker.leave", Summary: "stop serving a worker group; the tasks this connection holds go to other workers (prototype lane)",
			Role: operator, Args: []Arg{argGroup}, Handler: r.workerLeave},
	}
}

// RawArgs returns the args object as sent, {} when there was none.
func (r *Request) RawArgs() json.RawMessage {
	raw := bytes.TrimSpace(r.Env.Args)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`)
	}
	return raw
}

func (r *Registry) taskSubmit(ctx context.Context, req *Request) (string, any, error) {
	group := req.String("group")
	var problems []string
	if !taskq.ValidGroup(group) {
		problems = append(problems, "args.group "+groupProblem)
	}
	task := bytes.TrimSpace(req.args["task"])
	if len(task) == 0 || task[0] != '{' {
		problems = append(problems, "args.task must be a JSON object")
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	return r.submit(ctx, req, group, task)
}

func (r *Registry) truthVerify(ctx context.Context, req *Request) (string, any, error) {
	return r.submit(ctx, req, taskq.TruthGroup, req.RawArgs())
}

// submit stores task for group in the caller's tenant and answers its id
// once it is stored.
func (r *Registry) submit(ctx context.Context, req *Request, group string, task []byte) (string, any, error) {
	if max := r.deps.TaskMaxBytes; max > 0 && len(task) > max {
		return "", nil, protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"the task is %d bytes, over %s (%d)", len(task), config.VarTaskMaxBytes, max))
	}
	id, err := r.deps.Tasks.Submit(ctx, req.Caller.Tenant, group, task)
	if err != nil {
		return "", nil, r.taskError(req.spec.Name, group, "", err)
	}
	return fmt.Sprintf("submitted %s to group %s", id, group), map[string]any{"task_id": id, "group": group}, nil
}

func (r *Registry) taskGet(ctx context.Context, req *Request) (string, any, error) {
	id := req.String("task_id")
	if !taskq.ValidID(id) {
		return "", nil, protocol.ValidationError("args.task_id must be a task id: task_ and 32 lower-case hex digits")
	}
	info, err := r.deps.Tasks.Get(ctx, req.Caller.Tenant, id)
	if err != nil {
		return "", nil, r.taskError(req.spec.Name, "", id, err)
	}
	data, err := json.Marshal(map[string]any{"task_id": info.ID, "group": info.Group, "state": string(info.State), "attempts": info.Attempts})
	if err != nil {
		return "", nil, fmt.Errorf("op.task.get: encode %s: %w", info.ID, err)
	}
	if info.Result != nil {
		// The result is the worker's payload as sent: spliced in, not
		// re-encoded (encoding/json would compact and escape it).
		data = append(data[:len(data)-1], `,"result":`...)
		data = append(append(data, info.Result...), '}')
	}
	return fmt.Sprintf("%s is %s", info.ID, info.State), json.RawMessage(data), nil
}

// deadView is one dead letter as op.task.dead shows it.
type deadView struct {
	TaskID   string          `json:"task_id,omitempty"`
	EntryID  string          `json:"entry_id,omitempty"`
	Reason   string          `json:"reason"`
	Attempts int             `json:"attempts"`
	Body     json.RawMessage `json:"body,omitempty"`
	Raw      string          `json:"raw,omitempty"`
	At       string          `json:"at"`
}

func (r *Registry) taskDead(ctx context.Context, req *Request) (string, any, error) {
	group := req.String("group")
	var problems []string
	if !taskq.ValidGroup(group) {
		problems = append(problems, "args.group "+groupProblem)
	}
	limit := req.Int("limit", defaultDeadLimit)
	if limit < 1 || limit > maxDeadLimit {
		problems = append(problems, fmt.Sprintf("args.limit must be 1-%d", maxDeadLimit))
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	dead, err := r.deps.Tasks.DeadLetters(ctx, req.Caller.Tenant, group, int(limit))
	if err != nil {
		return "", nil, r.taskError(req.spec.Name, group, "", err)
	}
	out := make([]deadView, 0, len(dead))
	for _, d := range dead {
		out = append(out, deadView{TaskID: d.TaskID, EntryID: d.EntryID, Reason: d.Reason, Attempts: d.Attempts,
			Body: d.Body, Raw: d.Raw, At: protocol.FormatTimestamp(d.At)})
	}
	return fmt.Sprintf("%d dead tasks", len(out)), map[string]any{"group": group, "count": len(out), "tasks": out}, nil
}

func (r *Registry) workerLeave(ctx context.Context, req *Request) (string, any, error) {
	group := req.String("group")
	if !taskq.ValidGroup(group) {
		return "", nil, protocol.ValidationError("args.group " + groupProblem)
	}
	left, err := r.deps.Tasks.Leave(ctx, req.Caller.ClientID, group)
	if err != nil {
		return "", nil, r.taskError(req.spec.Name, group, "", err)
	}
	msg := "left group " + group
	if !left {
		msg = "not a worker of group " + group
	}
	return msg, map[string]any{"group": group, "left": left}, nil
}

// OperatorJoin answers an operator.join envelope, the one reply it gets
// (shaped like a command's): it registers w, the caller's connection, as a
// worker of payload.group in the caller's tenant. The lane's gate comes
// first, then the role (operator or admin when auth is on), then the
// payload (keys other than group, such as the original's auth_token, are
// ignored: identity is the handshake's). Counted in commands_total as
// operator.join.
func (r *Registry) OperatorJoin(_ context.Context, c Caller, w taskq.Worker, env *protocol.Envelope) *protocol.Envelope {
	group, err := r.operatorJoin(c, w, env)
	if err != nil {
		return r.failed(labelOperatorJoin, c, env.ID, err, protocol.CommandError)
	}
	r.observe(labelOperatorJoin, protocol.StatusSuccess)
	return protocol.CommandReply(env.ID, "joined group "+group, map[string]any{"group": group, "worker": c.ClientID}, r.deps.Clock())
}

func (r *Registry) operatorJoin(c Caller, w taskq.Worker, env *protocol.Envelope) (string, error) {
	if err := r.laneGate(protocol.TypeOperatorJoin); err != nil {
		return "", err
	}
	if r.deps.AuthEnabled && c.Role < auth.RoleOperator {
		return "", protocol.NewError(protocol.CodeAuthorization, fmt.Sprintf(
			"operator.join needs role %s or %s, this client has %s", auth.RoleOperator, auth.RoleAdmin, c.Role))
	}
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(env.Payload, &payload); err != nil || payload == nil {
		return "", protocol.ValidationError("payload must be a JSON object with a group")
	}
	raw, ok := payload["group"]
	if !ok || string(raw) == "null" {
		return "", protocol.ValidationError("payload.group is required")
	}
	var group string
	if json.Unmarshal(raw, &group) != nil {
		return "", protocol.ValidationError("payload.group must be a string")
	}
	if !taskq.ValidGroup(group) {
		return "", protocol.ValidationError("payload.group " + groupProblem)
	}
	if err := r.deps.Tasks.Join(w, group); err != nil {
		return "", r.taskError(labelOperatorJoin, group, "", err)
	}
	return group, nil
}

// TaskResponse takes a worker's answer to a task delivery: a response
// frame whose request_id is a task id, while the lane is open and
// configured. Anything else is not handled (nil, false) and the caller
// routes the frame as in v1. A handled frame gets its one reply here: a
// message_response naming the task's final state once the completion is
// stored, or an error (NOT_FOUND when the connection does not hold the
// task, whose result is then not recorded). The result stored is the
// frame's payload as sent (none when it has none). Counted in
// commands_total as op.task.complete.
func (r *Registry) TaskResponse(ctx context.Context, c Caller, env *protocol.Envelope) (reply *protocol.Envelope, handled bool) {
	if env.Type != protocol.TypeResponse || !taskq.ValidID(env.RequestID) || r.laneGate(labelTaskComplete) != nil {
		return nil, false
	}
	state, err := r.complete(ctx, c, env)
	if err != nil {
		return r.failed(labelTaskComplete, c, env.ID, err, protocol.ErrorReply), true
	}
	r.observe(labelTaskComplete, protocol.StatusSuccess)
	return protocol.TaskAck(env.ID, env.RequestID, string(state), r.deps.Clock()), true
}

func (r *Registry) complete(ctx context.Context, c Caller, env *protocol.Envelope) (taskq.State, error) {
	if env.Status != protocol.StatusSuccess && env.Status != protocol.StatusError {
		return "", protocol.ValidationError(fmt.Sprintf("status of a task answer must be %q or %q",
			protocol.StatusSuccess, protocol.StatusError))
	}
	var result []byte
	if len(env.Payload) > 0 {
		result = env.Payload
	}
	state, err := r.deps.Tasks.Complete(ctx, c.ClientID, env.RequestID, env.Status == protocol.StatusSuccess, result)
	if err != nil {
		return "", r.taskError(labelTaskComplete, "", env.RequestID, err)
	}
	return state, nil
}

// failed counts and, for internal errors, logs a refusal of the lane's
// non-command frames and builds its reply with build.
func (r *Registry) failed(label string, c Caller, requestID string, err error,
	build func(string, *protocol.Error, time.Time) *protocol.Envelope) *protocol.Envelope {
	we := protocol.AsWire(err)
	if we.Code == protocol.CodeInternal {
		r.deps.Logger.Error("command failed", "client_id", c.ClientID, "op", "command", "command", label, "err", err)
	}
	r.observe(label, string(we.Code))
	return build(requestID, we, r.deps.Clock())
}

// taskError turns a dispatcher error into the wire error: the conditions
// of taskq say what happened (a limit names its variable), an unreachable
// backend is STORAGE_UNAVAILABLE (the dispatcher has logged and counted
// the failed Queue call), anything else stays internal (logged where the
// reply is built).
func (r *Registry) taskError(op, group, id string, err error) error {
	switch {
	case errors.Is(err, taskq.ErrQueueFull):
		return protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"group %s holds %s (%d) unfinished tasks; the task was not stored", group, config.VarTaskQueueMax, r.deps.TaskQueueMax))
	case errors.Is(err, taskq.ErrGroupLimit):
		return protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"this connection serves %s (%d) groups; leave one first", config.VarTaskMaxGroups, r.deps.TaskMaxGroups))
	case errors.Is(err, taskq.ErrNotFound):
		return protocol.NewError(protocol.CodeNotFound, fmt.Sprintf("no task %s in your tenant", id))
	case errors.Is(err, taskq.ErrNotHeld):
		return protocol.NewError(protocol.CodeNotFound, fmt.Sprintf(
			"task %s is not held by this connection (never delivered to it, expired, released or already answered); its result was not recorded", id))
	case errors.Is(err, taskq.ErrClosed):
		return protocol.NewError(protocol.CodeFeatureDisabled, "the node is shutting down; the work queue is closed")
	case errors.Is(err, taskq.ErrUnavailable):
		msg := "the task queue is unavailable"
		switch op {
		case "op.task.submit", commandTruthVerify:
			msg += "; the task was not stored"
		case labelTaskComplete:
			msg += "; the answer was not recorded"
		case "op.worker.leave":
			msg = fmt.Sprintf("left group %s, but the task queue is unavailable: the tasks this connection held go to other workers after %s",
				group, config.VarTaskVisibility)
		}
		return protocol.NewError(protocol.CodeStorageUnavailable, msg)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Labels returns every command label commands_total can carry: the
// catalogue, "unknown" (a name not in it), "prototype" (a lane name not in
// it, refused by the gate), and the lane's frames that are not commands,
// operator.join and op.task.complete. The node starts them at 0.
func (r *Registry) Labels() []string {
	out := []string{"unknown", "prototype", labelOperatorJoin, labelTaskComplete}
	for _, c := range r.Catalogue() {
		out = append(out, c.Name)
	}
	return out
}
