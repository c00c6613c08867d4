package command_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
)

// deliveryWait bounds the wait for a task delivery the test expects.
const deliveryWait = 5 * time.Second

// fakeWorker is a connection serving groups: it records what the
// dispatcher delivers.
type fakeWorker struct {
	id, tenant string
	got        chan taskq.Task
}

func newWorker(id, tenant string) *fakeWorker {
	return &fakeWorker{id: id, tenant: tenant, got: make(chan taskq.Task, 64)}
}

func (w *fakeWorker) ID() string     { return w.id }
func (w *fakeWorker) Tenant() string { return w.tenant }
func (w *fakeWorker) Deliver(t taskq.Task) bool {
	select {
	case w.got <- t:
		return true
	default:
		return false
	}
}

// caller is the worker's identity as a command caller.
func (w *fakeWorker) caller(role auth.Role) command.Caller {
	return command.Caller{ClientID: w.id, Subject: w.id, Tenant: w.tenant, Role: role}
}

// next waits for the worker's next delivery.
func (w *fakeWorker) next(t *testing.T) taskq.Task {
	t.Helper()
	select {
	case task := <-w.got:
		return task
	case <-time.After(deliveryWait):
		t.Fatalf("worker %s got no task within %s", w.id, deliveryWait)
		return taskq.Task{}
	}
}

// lane is a registry over a real dispatcher and the memory queue.
type lane struct {
	reg   *command.Registry
	tasks *taskq.Dispatcher
	clock *taskqtest.Clock // the queue's clock
	m     *metrics.Metrics
}

type laneOptions struct {
	auth        bool
	closed      bool // the gate is closed (the dispatcher still runs)
	queueMax    int
	maxBytes    int
	maxGroups   int
	maxAttempts int
	// wrap, when set, stands between the dispatcher and the memory queue.
	wrap   func(*memq.Queue) taskq.Queue
	logger *slog.Logger
}

func newLane(t *testing.T, o laneOptions) *lane {
	t.Helper()
	if o.maxAttempts == 0 {
		o.maxAttempts = 3
	}
	l := &lane{clock: taskqtest.NewClock(), m: metrics.New(nil)}
	limits := taskq.Limits{QueueMax: o.queueMax, MaxAttempts: o.maxAttempts, Visibility: time.Minute, ResultTTL: time.Hour}
	q := memq.New(memq.Options{Limits: limits, Clock: l.clock.Now})
	var queue taskq.Queue = q
	if o.wrap != nil {
		queue = o.wrap(q)
	}
	l.tasks = taskq.NewDispatcher(taskq.Options{Queue: queue, Visibility: limits.Visibility,
		PollInterval: 10 * time.Millisecond, MaxGroupsPerWorker: o.maxGroups, Metrics: l.m})
	l.tasks.Start()
	t.Cleanup(func() { l.tasks.Stop(); _ = q.Close() })
	l.reg = command.New(command.Deps{
		Hub: bus.NewHub(4), Status: func() command.Status { return command.Status{} },
		PrototypeLanesOpen: !o.closed, Tasks: l.tasks, AuthEnabled: o.auth,
		TaskMaxBytes: o.maxBytes, TaskQueueMax: o.queueMax, TaskMaxGroups: o.maxGroups,
		Clock:   func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		Logger:  o.logger,
		Metrics: l.m,
	})
	return l
}

// answer is one reply, read back.
type answer struct {
	env      *protocol.Envelope
	Code     string
	Problems []string
	Data     map[string]any
	RawData  json.RawMessage
}

func read(t *testing.T, env *protocol.Envelope) answer {
	t.Helper()
	var body struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(env.Payload, &body), "%s", env.Payload)
	a := answer{env: env, Code: env.ErrorCode, Problems: body.Errors, RawData: body.Data}
	if len(body.Data) > 0 {
		require.NoError(t, json.Unmarshal(body.Data, &a.Data))
	}
	return a
}

func (l *lane) do(t *testing.T, c command.Caller, name, args string) answer {
	t.Helper()
	env := &protocol.Envelope{ID: "req-1", Type: protocol.TypeCommand, Command: name}
	if args != "" {
		env.Args = json.RawMessage(args)
	}
	r := l.reg.Handle(context.Background(), c, env)
	require.Equal(t, protocol.TypeResponse, r.Type)
	require.Equal(t, "req-1", r.RequestID)
	return read(t, r)
}

func joinEnv(payload string) *protocol.Envelope {
	return &protocol.Envelope{ID: "join-1", Type: protocol.TypeOperatorJoin, Payload: json.RawMessage(payload)}
}

func (l *lane) join(t *testing.T, w *fakeWorker, role auth.Role, group string) answer {
	t.Helper()
	r := l.reg.OperatorJoin(context.Background(), w.caller(role), w, joinEnv(`{"group":"`+group+`","auth_token":"ignored"}`))
	require.Equal(t, protocol.TypeResponse, r.Type, "the join's reply is shaped like a command's")
	require.Equal(t, "join-1", r.RequestID)
	return read(t, r)
}

// respond sends a worker's answer to a task and returns the reply.
func (l *lane) respond(t *testing.T, c command.Caller, taskID, status, payload string) *protocol.Envelope {
	t.Helper()
	env := &protocol.Envelope{ID: "answer-1", Type: protocol.TypeResponse, RequestID: taskID, Status: status}
	if payload != "" {
		env.Payload = json.RawMessage(payload)
	}
	r, handled := l.reg.TaskResponse(context.Background(), c, env)
	require.True(t, handled, "a response to a task id is the work queue's")
	require.NotNil(t, r)
	return r
}

// heldWithSpare sets up the usual scene of a redelivery: worker w1 of
// acme holds task id of group g, and w2 has joined g after it, with room.
func (l *lane) heldWithSpare(t *testing.T) (w1, w2 *fakeWorker, id string) {
	t.Helper()
	w1, w2 = newWorker("w1", "acme"), newWorker("w2", "acme")
	require.Empty(t, l.join(t, w1, auth.RoleUser, "g").Code)
	id = l.submit(t, acmeUser, "g", `{}`)
	require.Equal(t, id, w1.next(t).ID)
	require.Empty(t, l.join(t, w2, auth.RoleUser, "g").Code)
	return w1, w2, id
}

func (l *lane) submit(t *testing.T, c command.Caller, group, task string) string {
	t.Helper()
	a := l.do(t, c, "op.task.submit", `{"group":"`+group+`","task":`+task+`}`)
	require.Empty(t, a.Code, "%s %q", a.env.Error, a.Problems)
	id, _ := a.Data["task_id"].(string)
	require.True(t, taskq.ValidID(id), "task id %q", id)
	return id
}

var (
	acmeUser     = command.Caller{ClientID: "u1", Subject: "u1", Tenant: "acme", Role: auth.RoleUser}
	acmeOperator = command.Caller{ClientID: "o1", Subject: "o1", Tenant: "acme", Role: auth.RoleOperator}
	everyRole    = []auth.Role{auth.RoleGuest, auth.RoleUser, auth.RoleOperator, auth.RoleAdmin}
	// laneCalls are lane commands with arguments that would each fail a
	// check after the gate.
	laneCalls = [][2]string{
		{"op.task.submit", `{"group":"bad group!","task":[1],"extra":1}`},
		{"op.task.get", `{"task_id":"nope"}`},
		{"op.task.dead", `{"limit":0}`},
		{"op.task.bogus", `{}`},
		{"op.worker.leave", `{}`},
		{"op.worker.join", `{"group":"g"}`},
		{"truth.verify", `{"claim":"x"}`},
		{"operator.join", `{"group":"g"}`},
	}
)

func TestAClosedLaneAnswersFeatureDisabledToEveryRoleBeforeAnyCheck(t *testing.T) {
	for _, authOn := range []bool{false, true} {
		l := newLane(t, laneOptions{closed: true, auth: authOn})
		require.Empty(t, l.do(t, acmeUser, "ping", "").Code, "the registry answers other commands")
		for _, role := range everyRole {
			c := command.Caller{ClientID: "c", Tenant: "acme", Role: role}
			for _, call := range laneCalls {
				a := l.do(t, c, call[0], call[1])
				assert.Equal(t, string(protocol.CodeFeatureDisabled), a.Code, "%s as %s (auth %v)", call[0], role, authOn)
				assert.Contains(t, a.env.Error, "closed in this profile", call[0])
				assert.Contains(t, a.env.Error, "ARQONBUS_ENABLE_PROTOTYPE_RSI", call[0])
			}
			w := newWorker("w-"+role.String(), "acme")
			for _, payload := range []string{`{"group":"g"}`, `{"group":""}`, `[]`} {
				r := read(t, l.reg.OperatorJoin(context.Background(), w.caller(role), w, joinEnv(payload)))
				assert.Equal(t, string(protocol.CodeFeatureDisabled), r.Code, "operator.join %s as %s", payload, role)
				assert.Contains(t, r.env.Error, "closed in this profile")
			}
		}
		assert.Zero(t, l.tasks.Workers(), "nobody joined through the closed gate")
		r, handled := l.reg.TaskResponse(context.Background(), acmeUser, &protocol.Envelope{ID: "a",
			Type: protocol.TypeResponse, RequestID: taskq.NewID(), Status: "success"})
		assert.False(t, handled, "a closed lane leaves task answers to v1 routing")
		assert.Nil(t, r)
	}
}

func TestAnOpenLaneWithoutADispatcherIsNotConfigured(t *testing.T) {
	reg := command.New(command.Deps{Hub: bus.NewHub(4), Status: func() command.Status { return command.Status{} },
		PrototypeLanesOpen: true, AuthEnabled: true})
	for _, role := range everyRole {
		c := command.Caller{ClientID: "c", Tenant: "acme", Role: role}
		for _, call := range laneCalls {
			r := read(t, reg.Handle(context.Background(), c, &protocol.Envelope{ID: "x", Type: protocol.TypeCommand,
				Command: call[0], Args: json.RawMessage(call[1])}))
			assert.Equal(t, string(protocol.CodeFeatureDisabled), r.Code, "%s as %s", call[0], role)
			assert.Contains(t, r.env.Error, "not configured on this node", call[0])
		}
		w := newWorker("w", "acme")
		r := read(t, reg.OperatorJoin(context.Background(), w.caller(role), w, joinEnv(`{"group":"g"}`)))
		assert.Equal(t, string(protocol.CodeFeatureDisabled), r.Code)
		assert.Contains(t, r.env.Error, "not configured on this node")
	}
	_, handled := reg.TaskResponse(context.Background(), acmeUser, &protocol.Envelope{ID: "a",
		Type: protocol.TypeResponse, RequestID: taskq.NewID(), Status: "success"})
	assert.False(t, handled)
}

func TestUnknownLaneNamesAreUnknownCommandsOnceTheLaneIsOpen(t *testing.T) {
	l := newLane(t, laneOptions{})
	for _, name := range []string{"op.task.bogus", "op.worker.join", "operator.join"} {
		a := l.do(t, acmeUser, name, `{"group":"g"}`)
		assert.Equal(t, string(protocol.CodeUnknownCommand), a.Code, name)
	}
	assert.Contains(t, l.do(t, acmeUser, "operator.join", "").env.Error, `"type":"operator.join"`,
		"sent as a command, operator.join says how to send it")
}

func TestOperatorRolesAreCheckedOnlyWithAuthOn(t *testing.T) {
	t.Run("with auth on a user may not serve, leave or read dead letters", func(t *testing.T) {
		l := newLane(t, laneOptions{auth: true})
		w := newWorker("u1", "acme")
		a := l.join(t, w, auth.RoleUser, "g")
		assert.Equal(t, string(protocol.CodeAuthorization), a.Code)
		assert.Contains(t, a.env.Error, "needs role operator or admin, this client has user")
		for _, name := range []string{"op.worker.leave", "op.task.dead"} {
			a := l.do(t, acmeUser, name, `{"group":"g"}`)
			assert.Equal(t, string(protocol.CodeAuthorization), a.Code, name)
			assert.Contains(t, a.env.Error, "needs role operator, this client has user", name)
		}
		assert.Zero(t, l.tasks.Workers())
		assert.Empty(t, l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{}}`).Code, "a user still submits")
	})
	t.Run("with auth on operators and admins may", func(t *testing.T) {
		l := newLane(t, laneOptions{auth: true})
		for i, role := range []auth.Role{auth.RoleOperator, auth.RoleAdmin} {
			w := newWorker("w"+string(rune('0'+i)), "acme")
			a := l.join(t, w, role, "g")
			require.Empty(t, a.Code, a.env.Error)
			assert.Equal(t, map[string]any{"group": "g", "worker": w.id}, a.Data)
			assert.Empty(t, l.do(t, w.caller(role), "op.task.dead", `{"group":"g"}`).Code)
			assert.Equal(t, true, l.do(t, w.caller(role), "op.worker.leave", `{"group":"g"}`).Data["left"])
		}
	})
	t.Run("with auth off every client is a user and may serve", func(t *testing.T) {
		l := newLane(t, laneOptions{})
		w := newWorker("u1", "acme")
		require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
		assert.Equal(t, 1, l.tasks.Workers())
		assert.Empty(t, l.do(t, acmeUser, "op.task.dead", `{"group":"g"}`).Code)
		assert.Equal(t, map[string]any{"group": "g", "left": true}, l.do(t, acmeUser, "op.worker.leave", `{"group":"g"}`).Data)
		assert.Equal(t, map[string]any{"group": "g", "left": false}, l.do(t, acmeUser, "op.worker.leave", `{"group":"g"}`).Data)
		assert.Zero(t, l.tasks.Workers())
	})
}

func TestLaneArgumentsAreValidatedAllAtOnce(t *testing.T) {
	badGroup := "args.group must be 1-128 characters of [A-Za-z0-9_.:-]"
	long := strings.Repeat("g", 129)
	for _, tc := range []struct {
		name, command, args string
		problems            []string
	}{
		{"a submit without arguments", "op.task.submit", `{}`, []string{"args.group is required", "args.task is required"}},
		{"a bad group and a task that is an array", "op.task.submit", `{"group":"a b","task":[1]}`,
			[]string{badGroup, "args.task must be a JSON object"}},
		{"a group over 128 characters", "op.task.submit", `{"group":"` + long + `","task":{}}`, []string{badGroup}},
		{"an empty group", "op.task.submit", `{"group":"","task":{}}`, []string{badGroup}},
		{"a null task", "op.task.submit", `{"group":"g","task":null}`, []string{"args.task must be a JSON object"}},
		{"a string task", "op.task.submit", `{"group":"g","task":"{}"}`, []string{"args.task must be a JSON object"}},
		{"a group that is a number and an unknown argument", "op.task.submit", `{"group":7,"task":{},"prio":1}`,
			[]string{"args.group must be a string", `unknown argument "prio" for op.task.submit`}},
		{"a malformed task id", "op.task.get", `{"task_id":"task_XYZ"}`,
			[]string{"args.task_id must be a task id: task_ and 32 lower-case hex digits"}},
		{"an upper-case task id", "op.task.get", `{"task_id":"task_0123456789ABCDEF0123456789ABCDEF"}`,
			[]string{"args.task_id must be a task id: task_ and 32 lower-case hex digits"}},
		{"a get without a task id", "op.task.get", ``, []string{"args.task_id is required"}},
		{"a dead limit of 0 and a bad group", "op.task.dead", `{"group":"x/y","limit":0}`, []string{badGroup, "args.limit must be 1-1000"}},
		{"a dead limit over 1000", "op.task.dead", `{"group":"g","limit":1001}`, []string{"args.limit must be 1-1000"}},
		{"a leave with a bad group", "op.worker.leave", `{"group":"héllo"}`, []string{badGroup}},
		{"truth.verify args that are not an object", "truth.verify", `[1,2]`, []string{"args must be a JSON object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newLane(t, laneOptions{}).do(t, acmeUser, tc.command, tc.args)
			require.Equal(t, string(protocol.CodeValidation), a.Code, a.env.Error)
			assert.Equal(t, tc.problems, a.Problems)
		})
	}
}

func TestOperatorJoinValidatesItsPayload(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	for payload, problem := range map[string]string{
		`{}`:                         "payload.group is required",
		`{"group":null}`:             "payload.group is required",
		`{"group":5}`:                "payload.group must be a string",
		`{"group":"a b"}`:            "payload.group must be 1-128 characters of [A-Za-z0-9_.:-]",
		`{"group":""}`:               "payload.group must be 1-128 characters of [A-Za-z0-9_.:-]",
		`[{"group":"g"}]`:            "payload must be a JSON object with a group",
		`{"auth_token":"x","g":"g"}`: "payload.group is required",
	} {
		a := read(t, l.reg.OperatorJoin(context.Background(), w.caller(auth.RoleOperator), w, joinEnv(payload)))
		assert.Equal(t, string(protocol.CodeValidation), a.Code, payload)
		assert.Equal(t, []string{problem}, a.Problems, payload)
	}
	assert.Zero(t, l.tasks.Workers())
	require.Empty(t, l.join(t, w, auth.RoleOperator, "g").Code, "auth_token is ignored")
	assert.Equal(t, 1, l.tasks.Workers())
}

func TestASubmittedTaskReachesAJoinedWorkerOnItsFirstAttempt(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "builders").Code)
	task := `{"build": "x" , "n":[1,2]}`
	a := l.do(t, acmeUser, "op.task.submit", `{"group":"builders","task":`+task+`}`)
	require.Empty(t, a.Code, a.env.Error)
	assert.Equal(t, "builders", a.Data["group"])
	id := a.Data["task_id"].(string)
	assert.Regexp(t, `^task_[0-9a-f]{32}$`, id)

	got := w.next(t)
	assert.Equal(t, id, got.ID)
	assert.Equal(t, "acme", got.Tenant)
	assert.Equal(t, "builders", got.Group)
	assert.Equal(t, 1, got.Attempt)
	assert.Equal(t, task, string(got.Body), "the task is delivered as sent")

	info := l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, map[string]any{"task_id": id, "group": "builders", "state": "running", "attempts": 1.0}, info.Data)
}

func TestAWorkersSuccessCompletesTheTaskWithItsResultAsSent(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
	id := l.submit(t, acmeUser, "g", `{"q":1}`)
	require.Equal(t, id, w.next(t).ID)

	result := `{"verdict": true , "note":"<b>&</b>", "score":0.5}`
	r := l.respond(t, w.caller(auth.RoleUser), id, "success", result)
	assert.Equal(t, protocol.TypeMessageResponse, r.Type)
	assert.Equal(t, "answer-1", r.ID, "the ack carries the worker's frame id")
	assert.Equal(t, protocol.StatusSuccess, r.Status)
	assert.JSONEq(t, `{"task_id":"`+id+`","state":"done"}`, string(r.Payload))

	info := l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, "done", info.Data["state"])
	assert.Equal(t, 1.0, info.Data["attempts"])
	var data struct {
		Result json.RawMessage `json:"result"`
	}
	require.NoError(t, json.Unmarshal(info.RawData, &data))
	assert.Equal(t, result, string(data.Result), "the result is byte-exact")
}

func TestAWorkersErrorFailsTheTask(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
	id := l.submit(t, acmeUser, "g", `{}`)
	w.next(t)
	r := l.respond(t, w.caller(auth.RoleUser), id, "error", `{"why":"bad input"}`)
	assert.JSONEq(t, `{"task_id":"`+id+`","state":"failed"}`, string(r.Payload))
	info := l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, "failed", info.Data["state"])
	assert.Equal(t, map[string]any{"why": "bad input"}, info.Data["result"])
}

func TestAnAnswerWithoutAPayloadStoresNoResult(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
	id := l.submit(t, acmeUser, "g", `{}`)
	w.next(t)
	r := l.respond(t, w.caller(auth.RoleUser), id, "success", "")
	require.Equal(t, protocol.TypeMessageResponse, r.Type, r.Error)
	info := l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, "done", info.Data["state"])
	assert.NotContains(t, info.Data, "result")
}

func TestATaskIsAnsweredOnlyOnceAndOnlyByItsHolder(t *testing.T) {
	l := newLane(t, laneOptions{})
	w1, w2, id := l.heldWithSpare(t)

	stranger := read(t, l.respond(t, w2.caller(auth.RoleUser), id, "success", `{"forged":true}`))
	assert.Equal(t, protocol.TypeError, stranger.env.Type)
	assert.Equal(t, "answer-1", stranger.env.RequestID)
	assert.Equal(t, string(protocol.CodeNotFound), stranger.Code)
	assert.Contains(t, stranger.env.Error, "is not held by this connection")
	assert.Equal(t, "running", l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`).Data["state"],
		"the stranger's answer was not recorded")

	first := l.respond(t, w1.caller(auth.RoleUser), id, "success", `{"n":1}`)
	require.Equal(t, protocol.TypeMessageResponse, first.Type, first.Error)
	second := read(t, l.respond(t, w1.caller(auth.RoleUser), id, "error", `{"n":2}`))
	assert.Equal(t, string(protocol.CodeNotFound), second.Code)
	info := l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, "done", info.Data["state"])
	assert.Equal(t, map[string]any{"n": 1.0}, info.Data["result"], "the second answer was not recorded")
}

func TestAnAnswerWithAStatusOtherThanSuccessOrErrorIsRefused(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
	id := l.submit(t, acmeUser, "g", `{}`)
	w.next(t)
	a := read(t, l.respond(t, w.caller(auth.RoleUser), id, "ok", `{}`))
	assert.Equal(t, string(protocol.CodeValidation), a.Code)
	assert.Equal(t, "running", l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`).Data["state"])
	require.Equal(t, protocol.TypeMessageResponse, l.respond(t, w.caller(auth.RoleUser), id, "success", `{}`).Type,
		"the task is still held after the refused answer")
}

func TestResponsesThatAreNotTaskAnswersAreLeftToV1Routing(t *testing.T) {
	l := newLane(t, laneOptions{})
	for _, env := range []*protocol.Envelope{
		{ID: "a", Type: protocol.TypeResponse, RequestID: "arq_msg_001", Status: "success"},
		{ID: "a", Type: protocol.TypeResponse, RequestID: "task_0123", Status: "success"},
		{ID: "a", Type: protocol.TypeResponse, RequestID: "TASK_0123456789abcdef0123456789abcdef", Status: "success"},
		{ID: "a", Type: protocol.TypeMessage, RequestID: taskq.NewID(), Status: "success"},
		{ID: "a", Type: protocol.TypeError, RequestID: taskq.NewID(), Error: "boom"},
	} {
		r, handled := l.reg.TaskResponse(context.Background(), acmeUser, env)
		assert.False(t, handled, "%s %s", env.Type, env.RequestID)
		assert.Nil(t, r)
	}
	r, handled := l.reg.TaskResponse(context.Background(), acmeUser, &protocol.Envelope{ID: "a",
		Type: protocol.TypeResponse, RequestID: taskq.NewID(), Status: "success"})
	assert.True(t, handled, "the same lane handles a task answer")
	assert.Equal(t, string(protocol.CodeNotFound), r.ErrorCode)
}

func TestATaskIsReadOnlyInItsSubmittersTenant(t *testing.T) {
	l := newLane(t, laneOptions{})
	id := l.submit(t, acmeUser, "g", `{}`)
	assert.Equal(t, "queued", l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`).Data["state"])
	other := command.Caller{ClientID: "x1", Tenant: "globex", Role: auth.RoleAdmin}
	a := l.do(t, other, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, string(protocol.CodeNotFound), a.Code)
	assert.Contains(t, a.env.Error, "no task "+id+" in your tenant")

	w := newWorker("gw", "globex")
	require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
	id2 := l.submit(t, other, "g", `{"t":"globex"}`)
	assert.Equal(t, id2, w.next(t).ID, "the other tenant's worker gets only its tenant's task")
	select {
	case task := <-w.got:
		t.Fatalf("a worker of globex got %s of %s", task.ID, task.Tenant)
	default:
	}
}

func TestAFullQueueIsLimitExceededNamingTheVariable(t *testing.T) {
	l := newLane(t, laneOptions{queueMax: 2})
	l.submit(t, acmeUser, "g", `{}`)
	l.submit(t, acmeUser, "g", `{}`)
	a := l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{}}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), a.Code)
	assert.Contains(t, a.env.Error, "ARQONBUS_TASK_QUEUE_MAX (2)")
	assert.Empty(t, l.do(t, acmeUser, "op.task.submit", `{"group":"other","task":{}}`).Code, "another group is not full")
}

func TestATaskOverTheByteLimitIsLimitExceededNamingBothSizes(t *testing.T) {
	l := newLane(t, laneOptions{maxBytes: 10})
	assert.Empty(t, l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{"a":"12"}}`).Code, "10 bytes is allowed")
	a := l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{"a":  "1"}}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), a.Code, "11 bytes as sent, though 9 when compacted")
	assert.Contains(t, a.env.Error, "11 bytes, over ARQONBUS_TASK_MAX_BYTES (10)")
	a = l.do(t, acmeUser, "truth.verify", `{"claim":"long"}`)
	assert.Equal(t, string(protocol.CodeLimitExceeded), a.Code)
	assert.Contains(t, a.env.Error, "16 bytes, over ARQONBUS_TASK_MAX_BYTES (10)")
}

func TestJoiningPastTheGroupLimitIsLimitExceededNamingTheVariable(t *testing.T) {
	l := newLane(t, laneOptions{maxGroups: 2})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "a").Code)
	require.Empty(t, l.join(t, w, auth.RoleUser, "b").Code)
	require.Empty(t, l.join(t, w, auth.RoleUser, "a").Code, "joining a group twice is one registration")
	a := l.join(t, w, auth.RoleUser, "c")
	assert.Equal(t, string(protocol.CodeLimitExceeded), a.Code)
	assert.Contains(t, a.env.Error, "ARQONBUS_TASK_MAX_GROUPS_PER_WORKER (2)")
	assert.Equal(t, 2, l.tasks.Workers())
}

func TestTruthVerifyQueuesItsArgsForTruthWorkers(t *testing.T) {
	l := newLane(t, laneOptions{})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, taskq.TruthGroup).Code)
	args := `{"claim": "water is wet", "sources":[1], "anything":{"goes":null}}`
	a := l.do(t, acmeUser, "truth.verify", args)
	require.Empty(t, a.Code, "%s %q", a.env.Error, a.Problems)
	assert.Equal(t, "truth_workers", a.Data["group"])
	got := w.next(t)
	assert.Equal(t, a.Data["task_id"], got.ID)
	assert.Equal(t, "truth_workers", got.Group)
	assert.Equal(t, args, string(got.Body), "the whole args object is the task, as sent")
	require.Equal(t, protocol.TypeMessageResponse, l.respond(t, w.caller(auth.RoleUser), got.ID, "success", `{}`).Type)

	for _, noArgs := range []string{"", `{}`} {
		a = l.do(t, acmeUser, "truth.verify", noArgs)
		require.Empty(t, a.Code, a.env.Error)
		got = w.next(t)
		assert.Equal(t, `{}`, string(got.Body), "args %q", noArgs)
		require.Equal(t, protocol.TypeMessageResponse, l.respond(t, w.caller(auth.RoleUser), got.ID, "success", `{}`).Type)
	}
}

func TestLeavingAGroupHandsItsHeldTaskToAnotherWorker(t *testing.T) {
	l := newLane(t, laneOptions{})
	w1, w2, id := l.heldWithSpare(t)
	a := l.do(t, w1.caller(auth.RoleUser), "op.worker.leave", `{"group":"g"}`)
	assert.Equal(t, map[string]any{"group": "g", "left": true}, a.Data)
	again := w2.next(t)
	assert.Equal(t, id, again.ID)
	assert.Equal(t, 2, again.Attempt)
	assert.Equal(t, string(protocol.CodeNotFound), l.respond(t, w1.caller(auth.RoleUser), id, "success", `{}`).ErrorCode,
		"the worker that left no longer holds it")
}

func TestDeadLettersListTasksWhoseAttemptsRanOut(t *testing.T) {
	l := newLane(t, laneOptions{maxAttempts: 1})
	w1, w2 := newWorker("w1", "acme"), newWorker("w2", "acme")
	require.Empty(t, l.join(t, w1, auth.RoleUser, "g").Code)
	id := l.submit(t, acmeUser, "g", `{"x":1}`)
	require.Equal(t, id, w1.next(t).ID)
	empty := l.do(t, acmeUser, "op.task.dead", `{"group":"g"}`)
	assert.Equal(t, map[string]any{"group": "g", "count": 0.0, "tasks": []any{}}, empty.Data)

	l.clock.Advance(2 * time.Minute) // the queue sees the delivery expire
	require.Empty(t, l.join(t, w2, auth.RoleUser, "g").Code)
	deadline := time.Now().Add(deliveryWait)
	for l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`).Data["state"] != "dead" {
		require.True(t, time.Now().Before(deadline), "the task never died")
		select {
		case task := <-w2.got:
			t.Fatalf("a task out of attempts was delivered again: %+v", task)
		case <-time.After(10 * time.Millisecond):
		}
	}
	a := l.do(t, acmeUser, "op.task.dead", `{"group":"g","limit":5}`)
	require.Empty(t, a.Code, a.env.Error)
	assert.Equal(t, 1.0, a.Data["count"])
	tasks := a.Data["tasks"].([]any)
	require.Len(t, tasks, 1)
	dead := tasks[0].(map[string]any)
	assert.Equal(t, id, dead["task_id"])
	assert.Equal(t, "attempts", dead["reason"])
	assert.Equal(t, 1.0, dead["attempts"])
	assert.Equal(t, map[string]any{"x": 1.0}, dead["body"])
	assert.Equal(t, "2024-05-01T12:02:00.000000Z", dead["at"])
	other := command.Caller{ClientID: "x", Tenant: "globex", Role: auth.RoleUser}
	assert.Equal(t, 0.0, l.do(t, other, "op.task.dead", `{"group":"g"}`).Data["count"], "another tenant sees none")
}

func TestTheLaneIsCountedInCommandsTotal(t *testing.T) {
	l := newLane(t, laneOptions{auth: true})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleOperator, "g").Code)
	l.join(t, w, auth.RoleUser, "g")
	id := l.submit(t, acmeUser, "g", `{}`)
	w.next(t)
	l.respond(t, w.caller(auth.RoleOperator), id, "success", `{}`)
	l.respond(t, w.caller(auth.RoleOperator), id, "success", `{}`)
	l.do(t, acmeUser, "truth.verify", `{}`)
	l.do(t, acmeUser, "op.task.bogus", `{}`)

	closed := newLane(t, laneOptions{closed: true})
	closed.do(t, acmeUser, "op.task.submit", `{}`)
	closed.do(t, acmeUser, "op.worker.join", `{}`)
	closed.reg.OperatorJoin(context.Background(), acmeOperator, w, joinEnv(`{"group":"g"}`))

	for _, c := range []struct {
		m              *metrics.Metrics
		command, label string
	}{
		{l.m, "operator.join", "success"},
		{l.m, "operator.join", "AUTHORIZATION_ERROR"},
		{l.m, "op.task.submit", "success"},
		{l.m, "op.task.complete", "success"},
		{l.m, "op.task.complete", "NOT_FOUND"},
		{l.m, "truth.verify", "success"},
		{l.m, "unknown", "UNKNOWN_COMMAND"},
		{closed.m, "op.task.submit", "FEATURE_DISABLED"},
		{closed.m, "prototype", "FEATURE_DISABLED"},
		{closed.m, "operator.join", "FEATURE_DISABLED"},
	} {
		assert.Equal(t, 1.0, promtest.ToFloat64(c.m.Commands.WithLabelValues(c.command, c.label)), "%s/%s", c.command, c.label)
	}
	assert.Equal(t, 7, promtest.CollectAndCount(l.m.Commands), "nothing else counted")
}

func TestLabelsNameEveryCommandTheCounterCanCarry(t *testing.T) {
	reg := command.New(command.Deps{})
	labels := reg.Labels()
	for _, c := range reg.Catalogue() {
		assert.Contains(t, labels, c.Name)
	}
	for _, name := range []string{"unknown", "prototype", "operator.join", "op.task.complete",
		"op.task.submit", "op.task.get", "op.task.dead", "op.worker.leave", "truth.verify"} {
		assert.Contains(t, labels, name)
	}
	assert.Len(t, labels, len(reg.Catalogue())+4)
}

func TestHelpDocumentsTheLaneAndTruthVerifysFreeArguments(t *testing.T) {
	l := newLane(t, laneOptions{auth: true})
	cmds := l.do(t, acmeUser, "help", `{"command":"truth.verify"}`).Data["commands"].([]any)
	require.Len(t, cmds, 1)
	tv := cmds[0].(map[string]any)
	assert.Equal(t, true, tv["free_args"])
	assert.Contains(t, tv["summary"], "truth_workers")
	dead := l.do(t, acmeUser, "help", `{"command":"op.task.dead"}`).Data["commands"].([]any)[0].(map[string]any)
	assert.Equal(t, "operator", dead["role"], "with auth on")
	assert.NotContains(t, dead, "free_args")
	open := newLane(t, laneOptions{})
	dead = open.do(t, acmeUser, "help", `{"command":"op.task.dead"}`).Data["commands"].([]any)[0].(map[string]any)
	assert.Equal(t, "user", dead["role"], "with auth off every client is a user")
}

var _ taskq.Worker = (*fakeWorker)(nil)

// failingQueue is the memory queue whose Submit, Get and Complete fail
// with err once it is set.
type failingQueue struct {
	*memq.Queue
	err atomic.Pointer[error]
}

func (f *failingQueue) fail(err error) { f.err.Store(&err) }

func (f *failingQueue) failure() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *failingQueue) Submit(ctx context.Context, tenant, group, id string, body []byte) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Queue.Submit(ctx, tenant, group, id, body)
}

func (f *failingQueue) Get(ctx context.Context, tenant, id string) (taskq.Info, error) {
	if err := f.failure(); err != nil {
		return taskq.Info{}, err
	}
	return f.Queue.Get(ctx, tenant, id)
}

func (f *failingQueue) Complete(ctx context.Context, tenant, group, worker, id string, ok bool, result []byte) (taskq.State, error) {
	if err := f.failure(); err != nil {
		return "", err
	}
	return f.Queue.Complete(ctx, tenant, group, worker, id, ok, result)
}

func TestAnUnreachableQueueIsStorageUnavailableAndAnUnexpectedFailureIsInternal(t *testing.T) {
	var logs bytes.Buffer
	var fq *failingQueue
	l := newLane(t, laneOptions{logger: slog.New(slog.NewTextHandler(&logs, nil)),
		wrap: func(q *memq.Queue) taskq.Queue { fq = &failingQueue{Queue: q}; return fq }})
	w := newWorker("w1", "acme")
	require.Empty(t, l.join(t, w, auth.RoleUser, "g").Code)
	id := l.submit(t, acmeUser, "g", `{}`)
	require.Equal(t, id, w.next(t).ID)

	fq.fail(fmt.Errorf("submit: %w: dial tcp 10.0.0.7:6379: refused", taskq.ErrUnavailable))
	a := l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{}}`)
	assert.Equal(t, string(protocol.CodeStorageUnavailable), a.Code)
	assert.Contains(t, a.env.Error, "the task was not stored")
	a = l.do(t, acmeUser, "truth.verify", `{}`)
	assert.Equal(t, string(protocol.CodeStorageUnavailable), a.Code)
	a = l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, string(protocol.CodeStorageUnavailable), a.Code)
	r := read(t, l.respond(t, w.caller(auth.RoleUser), id, "success", `{}`))
	assert.Equal(t, string(protocol.CodeStorageUnavailable), r.Code)
	assert.Contains(t, r.env.Error, "the answer was not recorded")
	for _, e := range []string{a.env.Error, r.env.Error} {
		assert.NotContains(t, e, "10.0.0.7", "no internals reach the client")
	}
	assert.NotContains(t, logs.String(), "level=ERROR", "an unreachable queue is not an internal error")

	fq.fail(errors.New("stream entry index corrupt"))
	r = read(t, l.respond(t, w.caller(auth.RoleUser), id, "success", `{}`))
	assert.Equal(t, string(protocol.CodeInternal), r.Code)
	assert.NotContains(t, r.env.Error, "corrupt")
	assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), logs.String())
	assert.Contains(t, logs.String(), "command=op.task.complete")
	assert.Contains(t, logs.String(), "stream entry index corrupt")
	assert.Equal(t, 1.0, promtest.ToFloat64(l.m.Commands.WithLabelValues("op.task.complete", "INTERNAL_ERROR")))
	assert.Equal(t, 1.0, promtest.ToFloat64(l.m.Commands.WithLabelValues("op.task.complete", "STORAGE_UNAVAILABLE")))

	fq.fail(nil)
	require.Equal(t, protocol.TypeMessageResponse, l.respond(t, w.caller(auth.RoleUser), id, "success", `{}`).Type,
		"once the queue answers, the held task completes")
}

func TestAStoppedDispatcherSaysTheNodeIsShuttingDown(t *testing.T) {
	l := newLane(t, laneOptions{})
	require.Empty(t, l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{}}`).Code)
	l.tasks.Stop()
	a := l.do(t, acmeUser, "op.task.submit", `{"group":"g","task":{}}`)
	assert.Equal(t, string(protocol.CodeFeatureDisabled), a.Code)
	assert.Contains(t, a.env.Error, "shutting down")
	w := newWorker("w1", "acme")
	j := l.join(t, w, auth.RoleUser, "g")
	assert.Equal(t, string(protocol.CodeFeatureDisabled), j.Code)
	assert.Contains(t, j.env.Error, "shutting down")
}

func TestAnUnknownTaskOfTheTenantIsNotFound(t *testing.T) {
	l := newLane(t, laneOptions{})
	id := taskq.NewID()
	a := l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`)
	assert.Equal(t, string(protocol.CodeNotFound), a.Code)
	assert.Equal(t, "no task "+id+" in your tenant", a.env.Error)
	l.submit(t, acmeUser, "g", `{}`)
	assert.Equal(t, string(protocol.CodeNotFound), l.do(t, acmeUser, "op.task.get", `{"task_id":"`+id+`"}`).Code,
		"while the tenant has another task")
}
