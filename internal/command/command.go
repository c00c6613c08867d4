// Package command holds the built-in commands: a table from name to handler
// with its arguments and minimum role. Every command envelope gets exactly
// one reply from Handle.
//
// Concurrency: a Registry is read-only after New and safe for concurrent use.
package command

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/cron"
	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/taskq"
)

// Caller is the client issuing a command.
type Caller struct {
	ClientID string
	Subject  string
	Tenant   string
	Role     auth.Role
}

// Request is one command invocation with its parsed arguments.
type Request struct {
	Caller Caller
	Env    *protocol.Envelope
	args   map[string]json.RawMessage
	spec   *Command
}

// Handler runs a command. It returns the reply's message and data, or an
// error (a *protocol.Error, or anything else, which becomes INTERNAL_ERROR).
// Data of type json.RawMessage is an object already encoded, sent byte for
// byte; any other data is encoded with encoding/json.
type Handler func(ctx context.Context, r *Request) (message string, data any, err error)

// ArgType is the JSON type of an argument.
type ArgType string

// Argument types.
const (
	ArgString  ArgType = "string"
	ArgInteger ArgType = "integer"
	ArgNumber  ArgType = "number"
	// ArgAny is any JSON value; unlike the others a null is kept (the
	// handler decides what it means).
	ArgAny ArgType = "any"
)

// Arg describes one command argument.
type Arg struct {
	Name        string  `json:"name"`
	Type        ArgType `json:"type"`
	Required    bool    `json:"required"`
	Description string  `json:"description"`
}

// Command is one entry of the catalogue.
type Command struct {
	Name    string    `json:"name"`
	Summary string    `json:"summary"`
	Role    auth.Role `json:"-"`
	Args    []Arg     `json:"args"`
	// FreeArgs takes any JSON object as args, whatever its keys, instead
	// of checking them against Args (which then only documents them); the
	// handler reads the object with Request.RawArgs.
	FreeArgs bool    `json:"free_args,omitempty"`
	Handler  Handler `json:"-"`
}

// Status is the server snapshot shown by the status command and GET /status.
type Status struct {
	Service       string       `json:"service"`
	Version       string       `json:"version"`
	Profile       string       `json:"profile"`
	UptimeSeconds float64      `json:"uptime_seconds"`
	Connections   int          `json:"connections"`
	Rooms         int          `json:"rooms"`
	Channels      int          `json:"channels"`
	Storage       store.Health `json:"storage"`
	Persistence   bool         `json:"persistence"`
	Draining      bool         `json:"draining"`
	// HistoryRooms and HistoryBytes are what the node's memory store
	// holds: history streams (tenant, room, channel), which outlive their
	// members, and their size as ARQONBUS_HISTORY_MAX_BYTES counts it.
	// GET /status shows the node's; the status command its caller's
	// tenant's part.
	HistoryRooms int64 `json:"history_rooms"`
	HistoryBytes int64 `json:"history_bytes"`
}

// Deps are what the built-in commands read.
type Deps struct {
	Hub *bus.Hub
	// Store is nil when persistence is off.
	Store store.Store
	// Status returns the current server snapshot.
	Status func() Status
	// TenantHistory returns what the memory store holds of one tenant
	// (streams, bytes), for the status command's history_rooms and
	// history_bytes; nil reads 0.
	TenantHistory func(tenant string) (rooms, bytes int64)
	// KV is the tenant key-value store of op.store.*; nil answers
	// FEATURE_DISABLED.
	KV kv.Store
	// KVLimits are the limits KV was built with, checked here first so
	// replies can name them (MaxValueBytes is counted on the value's JSON
	// as sent).
	KVLimits kv.Limits
	// Cron is the node's scheduler of op.cron.*; nil answers
	// FEATURE_DISABLED.
	Cron *cron.Scheduler
	// CronMinInterval is the shortest interval_seconds
	// (ARQONBUS_CRON_MIN_INTERVAL).
	CronMinInterval time.Duration
	// PrototypeLanesOpen says whether experimental lanes may be used
	// (ARQONBUS_ENABLE_PROTOTYPE_RSI, open in dev): the work queue's
	// operator.join, op.task.*, op.worker.* and truth.verify.
	PrototypeLanesOpen bool
	// Tasks is the node's work-queue dispatcher; nil: the lane is not
	// configured on this node (FEATURE_DISABLED even when open).
	Tasks *taskq.Dispatcher
	// TaskMaxBytes bounds a task's JSON as sent (ARQONBUS_TASK_MAX_BYTES);
	// 0 means no bound.
	TaskMaxBytes int
	// TaskQueueMax and TaskMaxGroups are the limits Tasks enforces
	// (ARQONBUS_TASK_QUEUE_MAX, ARQONBUS_TASK_MAX_GROUPS_PER_WORKER), here
	// only so refusals can name them.
	TaskQueueMax  int
	TaskMaxGroups int
	// AuthEnabled says whether roles come from tokens. Only then do
	// operator.join, op.worker.leave and op.task.dead need role operator;
	// with auth off every client is a user and may serve as a worker.
	AuthEnabled bool
	// MaxReplyBytes bounds the messages one history answer carries (the
	// client's send queue size), and what the store reads for it; 0 means
	// no bound.
	MaxReplyBytes int
	// HistoryReadsPerTenant bounds the history reads of one tenant in
	// flight on this node (ARQONBUS_HISTORY_READS_PER_TENANT); one more is
	// refused with RATE_LIMIT_EXCEEDED. 0 means no bound.
	HistoryReadsPerTenant int
	// HistoryReadBytesPerSecond bounds the bytes of history one tenant
	// reads per second on this node (ARQONBUS_HISTORY_READ_BYTES_PER_SECOND);
	// a read while the tenant is over it is refused with
	// RATE_LIMIT_EXCEEDED. 0 means no bound.
	HistoryReadBytesPerSecond int
	Clock                     func() time.Time
	Logger                    *slog.Logger
	// Metrics counts each command by name (or "unknown", "prototype") and
	// status ("success" or an error code): arqonbus_commands_total.
	// Default: a private registry.
	Metrics *metrics.Metrics
}

// Registry is the command table.
type Registry struct {
	deps  Deps
	cmds  map[string]*Command
	reads *readGate
}

// New returns the registry of built-in commands.
func New(d Deps) *Registry {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil)
	}
	r := &Registry{deps: d, cmds: make(map[string]*Command), reads: newReadGate(d.HistoryReadsPerTenant, d.HistoryReadBytesPerSecond, d.Clock)}
	cmds := append(r.builtins(), r.cronCommands()...)
	for _, c := range append(cmds, r.taskCommands()...) {
		r.cmds[c.Name] = c
	}
	return r
}

// Catalogue returns the commands sorted by name.
func (r *Registry) Catalogue() []*Command {
	out := make([]*Command, 0, len(r.cmds))
	for _, c := range r.cmds {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Handle runs the command in env for caller and returns its one reply.
func (r *Registry) Handle(ctx context.Context, caller Caller, env *protocol.Envelope) *protocol.Envelope {
	name, msg, data, err := r.run(ctx, caller, env)
	now := r.deps.Clock()
	if err != nil {
		we := protocol.AsWire(err)
		if we.Code == protocol.CodeInternal {
			r.deps.Logger.Error("command failed", "client_id", caller.ClientID, "op", "command",
				"command", name, "err", err)
		}
		r.observe(name, string(we.Code))
		return protocol.CommandError(env.ID, we, now)
	}
	r.observe(name, protocol.StatusSuccess)
	if raw, ok := data.(json.RawMessage); ok {
		return protocol.CommandReplyData(env.ID, msg, raw, now)
	}
	return protocol.CommandReply(env.ID, msg, data, now)
}

func (r *Registry) observe(name, status string) {
	r.deps.Metrics.Commands.WithLabelValues(name, status).Inc()
}

func (r *Registry) run(ctx context.Context, caller Caller, env *protocol.Envelope) (string, string, any, error) {
	c, ok := r.cmds[env.Command]
	if isLane(env.Command) {
		// The gate runs before the role and the arguments: a closed lane
		// answers the same to everyone.
		label := "prototype"
		if ok {
			label = c.Name
		}
		if err := r.laneGate(env.Command); err != nil {
			return label, "", nil, err
		}
	}
	if !ok {
		if env.Command == protocol.TypeOperatorJoin {
			return "unknown", "", nil, protocol.NewError(protocol.CodeUnknownCommand,
				`operator.join is not a command: send {"type":"operator.join","payload":{"group":…}}`)
		}
		return "unknown", "", nil, protocol.NewError(protocol.CodeUnknownCommand,
			fmt.Sprintf("unknown command %q; send help for the list", protocol.Clip(env.Command)))
	}
	if caller.Role < c.Role {
		return c.Name, "", nil, protocol.NewError(protocol.CodeAuthorization,
			fmt.Sprintf("%s needs role %s, this client has %s", c.Name, c.Role, caller.Role))
	}
	req := &Request{Caller: caller, Env: env, spec: c}
	if err := req.parseArgs(); err != nil {
		return c.Name, "", nil, err
	}
	msg, data, err := c.Handler(ctx, req)
	return c.Name, msg, data, err
}

// isLane matches the names of the work queue (SPEC §11.1), the prototype
// RSI operator lane: operator.join, op.task.*, op.worker.* and
// truth.verify, whether or not the table has them.
func isLane(name string) bool {
	return name == protocol.TypeOperatorJoin || name == commandTruthVerify ||
		strings.HasPrefix(name, "op.task.") || strings.HasPrefix(name, "op.worker.")
}

// laneGate is the work queue's gate: nil when the lane is open and
// configured, else the FEATURE_DISABLED that says why.
func (r *Registry) laneGate(name string) error {
	if !r.deps.PrototypeLanesOpen {
		return protocol.NewError(protocol.CodeFeatureDisabled, fmt.Sprintf(
			"%s is a prototype lane; prototype lanes are closed in this profile (set %s=true to open them)",
			protocol.Clip(name), varPrototypeRSI))
	}
	if r.deps.Tasks == nil {
		return protocol.NewError(protocol.CodeFeatureDisabled, fmt.Sprintf(
			"%s is a prototype lane; the work queue is not configured on this node", protocol.Clip(name)))
	}
	return nil
}

// parseArgs checks env.Args against the command's argument list: unknown
// arguments, wrong types and missing required ones are all reported at once.
func (r *Request) parseArgs() error {
	r.args = map[string]json.RawMessage{}
	if len(r.Env.Args) > 0 {
		if err := json.Unmarshal(r.Env.Args, &r.args); err != nil {
			return protocol.ValidationError("args must be a JSON object")
		}
	}
	if r.spec.FreeArgs {
		return nil
	}
	var problems []string
	known := make(map[string]bool, len(r.spec.Args))
	for _, a := range r.spec.Args {
		known[a.Name] = true
		raw, ok := r.args[a.Name]
		if !ok || string(raw) == "null" && a.Type != ArgAny {
			delete(r.args, a.Name)
			if a.Required {
				problems = append(problems, fmt.Sprintf("args.%s is required", a.Name))
			}
			continue
		}
		if !typeMatches(a.Type, raw) {
			problems = append(problems, fmt.Sprintf("args.%s must be a %s", a.Name, a.Type))
		}
	}
	names := make([]string, 0, len(r.args))
	for name := range r.args {
		if !known[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		problems = append(problems, fmt.Sprintf("unknown argument %q for %s", protocol.Clip(name), r.spec.Name))
	}
	if len(problems) > 0 {
		return protocol.ValidationError(problems...)
	}
	return nil
}

func typeMatches(t ArgType, raw json.RawMessage) bool {
	switch t {
	case ArgString:
		return len(raw) > 0 && raw[0] == '"'
	case ArgAny:
		return true
	case ArgNumber:
		var f float64
		return len(raw) > 0 && raw[0] != '"' && json.Unmarshal(raw, &f) == nil
	case ArgInteger:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

// String returns a string argument ("" when absent).
func (r *Request) String(name string) string {
	raw, ok := r.args[name]
	if !ok {
		return ""
	}
	var s string
	_ = json.Unmarshal(raw, &s) // type checked in parseArgs
	return s
}

// Int returns an integer argument, or def when absent.
func (r *Request) Int(name string, def int64) int64 {
	raw, ok := r.args[name]
	if !ok {
		return def
	}
	var n json.Number
	_ = json.Unmarshal(raw, &n) // type checked in parseArgs
	v, _ := n.Int64()
	return v
}

// Has reports whether the argument was given.
func (r *Request) Has(name string) bool {
	_, ok := r.args[name]
	return ok
}
