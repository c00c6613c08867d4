// Package redisq is the taskq.Queue on Redis Streams, shared by every node.
// Each (tenant, group) is a stream whose entries are tasks ("task_id",
// "body") with one consumer group, "workers"; each worker is a consumer.
// Beside the stream, each task has a hash (group, state, attempts, worker,
// entry, result), each group a dead-letter list and an XAUTOCLAIM cursor.
// All keys of a tenant share the hash tag {q:<tenant>}, so every script
// touches one Redis Cluster slot (task hashes are named inside the
// scripts from the tenant base they are passed, in the same slot).
//
// Every state change is one Lua script: Submit checks the bound and adds
// the entry and its hash; Claim takes expired or released deliveries
// (XAUTOCLAIM) and then new entries (XREADGROUP) and updates their hashes,
// moving tasks whose attempts ran out to the dead-letter list; Complete
// and the attempts dead-letter acknowledge and delete the entry, so XLEN
// counts the unfinished tasks and nothing unfinished is ever trimmed.
// Entries that do not decode (corrupt or foreign) are moved to the
// dead-letter list by a second script and reported in Claimed.Corrupt; the
// queue logs nothing itself. Unfinished tasks have no TTL; finished ones
// expire after Limits.ResultTTL.
//
// Expiry of deliveries is measured by Redis (the idle time of pending
// entries), not by the node's clock; Options.Clock only stamps dead
// letters.
//
// Concurrency: safe for concurrent use; Redis serialises the scripts.
package redisq

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/rediskey"
	"github.com/arqonbus/arqonbus/internal/taskq"
)

var _ taskq.Queue = (*Queue)(nil)

// DefaultPrefix starts every key name (the prefix the other Redis
// backends use; the {q:...} tag keeps the queue's keys apart).
const DefaultPrefix = "arqonbus:"

// defaultTimeout bounds a call whose context has no deadline when
// Options.Timeout is 0.
const defaultTimeout = 2 * time.Second

// maxRaw is the most bytes of a corrupt entry's fields kept in its dead
// letter.
const maxRaw = 4096

var (
	//go:embed common.lua
	commonLua string
	//go:embed submit.lua
	submitLua string
	//go:embed claim.lua
	claimLua string
	//go:embed complete.lua
	completeLua string
	//go:embed release.lua
	releaseLua string
	//go:embed dead.lua
	deadLua string

	submitScript   = redis.NewScript(commonLua + submitLua)
	claimScript    = redis.NewScript(commonLua + claimLua)
	completeScript = redis.NewScript(commonLua + completeLua)
	releaseScript  = redis.NewScript(commonLua + releaseLua)
	deadScript     = redis.NewScript(commonLua + deadLua)
)

// Options configure a Queue.
type Options struct {
	Client redis.UniversalClient
	Limits taskq.Limits
	// Prefix starts every key name. Default DefaultPrefix.
	Prefix string
	// Timeout bounds each call whose context has no deadline. Default 2s
	// (ARQONBUS_REDIS_TIMEOUT).
	Timeout time.Duration
	// Clock stamps DeadLetter.At. Default time.Now.
	Clock func() time.Time
}

// Queue is the Redis backend. It does not own the client.
type Queue struct {
	c       redis.UniversalClient
	lim     taskq.Limits
	prefix  string
	timeout time.Duration
	clock   func() time.Time
	closed  atomic.Bool
}

// New returns a Queue over o.Client.
func New(o Options) (*Queue, error) {
	switch {
	case o.Client == nil:
		return nil, errors.New("redisq: Client is required")
	case o.Timeout < 0:
		return nil, errors.New("redisq: Timeout must not be negative")
	case o.Limits.QueueMax < 0:
		return nil, errors.New("redisq: Limits.QueueMax must not be negative")
	case o.Limits.MaxAttempts <= 0:
		return nil, errors.New("redisq: Limits.MaxAttempts must be positive")
	case o.Limits.Visibility <= 0:
		return nil, errors.New("redisq: Limits.Visibility must be positive")
	case o.Limits.ResultTTL <= 0:
		return nil, errors.New("redisq: Limits.ResultTTL must be positive")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Queue{c: o.Client, lim: o.Limits, prefix: o.Prefix, timeout: o.Timeout, clock: o.Clock}, nil
}

// base is "<prefix>{q:<escaped tenant>}:", which starts every key of the
// tenant. Escaping (internal/rediskey) keeps '{', '}' and ':' out of the
// parts, so the tag names the tenant alone (never empty, even for the
// implicit tenant "") and no (tenant, group) can name another's keys.
func (q *Queue) base(tenant string) string {
	return q.prefix + "{q:" + rediskey.Escape(tenant) + "}:"
}

// StreamKey is the stream of (tenant, group).
func (q *Queue) StreamKey(tenant, group string) string {
	return q.base(tenant) + "s:" + rediskey.Escape(group)
}

// DeadKey is the dead-letter list of (tenant, group).
func (q *Queue) DeadKey(tenant, group string) string {
	return q.base(tenant) + "d:" + rediskey.Escape(group)
}

func (q *Queue) cursorKey(tenant, group string) string {
	return q.base(tenant) + "c:" + rediskey.Escape(group)
}

func (q *Queue) taskKey(tenant, id string) string { return q.base(tenant) + "t:" + id }

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// call runs one operation, bounded by the timeout when ctx has none, and
// wraps every failure of Redis (timeouts included) in ErrUnavailable.
func (q *Queue) call(ctx context.Context, op string, run func(ctx context.Context) error) error {
	if q.closed.Load() {
		return fmt.Errorf("%s: %w", op, taskq.ErrClosed)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.timeout)
		defer cancel()
	}
	err := run(ctx)
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	return fmt.Errorf("%s: %w: %w", op, taskq.ErrUnavailable, err)
}

// isObject reports whether b is one JSON object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// Submit implements taskq.Queue.
func (q *Queue) Submit(ctx context.Context, tenant, group, id string, body []byte) error {
	if !taskq.ValidID(id) {
		return fmt.Errorf("submit: malformed task id %q", id)
	}
	if !isObject(body) {
		return errors.New("submit: task body is not a JSON object")
	}
	var res any
	err := q.call(ctx, "submit", func(ctx context.Context) error {
		var err error
		res, err = submitScript.Run(ctx, q.c, []string{q.StreamKey(tenant, group), q.taskKey(tenant, id)},
			id, body, group, q.lim.QueueMax, storeDeadline(ctx)).Result()
		return err
	})
	if err != nil {
		return err
	}
	switch res {
	case int64(0):
		return fmt.Errorf("submit to %s: %w (%d)", group, taskq.ErrQueueFull, q.lim.QueueMax)
	case int64(-1):
		return fmt.Errorf("submit: task id %s is taken", id)
	case int64(-2):
		return fmt.Errorf("submit to %s: %w: Redis ran the submit after its deadline; the task was not stored", group, taskq.ErrUnavailable)
	}
	return nil
}

// maxDeadlineMargin bounds how much earlier than the caller's deadline the
// submit script stops storing.
const maxDeadlineMargin = 250 * time.Millisecond

// storeDeadline is the Unix ms after which the submit script refuses to
// store: a command sent while Redis is stopped (SIGSTOP, a long fork) sits
// in the socket and runs when Redis resumes, long after the node answered
// STORAGE_UNAVAILABLE; refusing it there keeps "not stored" true. It is a
// quarter of the time left (at most maxDeadlineMargin) before the caller's
// deadline, so a reply that is on its way when the node stops waiting is
// rare, and node and Redis clocks may differ by that much. 0: no deadline.
func storeDeadline(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return dl.Add(-min(time.Until(dl)/4, maxDeadlineMargin)).UnixMilli()
}

// Claim implements taskq.Queue.
func (q *Queue) Claim(ctx context.Context, tenant, group, worker string, n int) (taskq.Claimed, error) {
	var out taskq.Claimed
	if q.closed.Load() {
		return out, fmt.Errorf("claim: %w", taskq.ErrClosed)
	}
	if n <= 0 {
		return out, nil
	}
	stream := q.StreamKey(tenant, group)
	var items []any
	err := q.call(ctx, "claim", func(ctx context.Context) error {
		var err error
		items, err = claimScript.Run(ctx, q.c,
			[]string{stream, q.cursorKey(tenant, group), q.DeadKey(tenant, group)},
			q.base(tenant), worker, n, ms(q.lim.Visibility), q.lim.MaxAttempts, ms(q.lim.ResultTTL),
			q.lim.QueueMax, q.now(), group).Slice()
		return err
	})
	if err != nil {
		return out, err
	}
	for _, it := range items {
		f, _ := it.([]any)
		kind := str(f, 0)
		switch {
		case kind == "task" && len(f) == 5:
			entry, id, body := str(f, 1), str(f, 2), str(f, 3)
			attempt, _ := f[4].(int64)
			if !taskq.ValidID(id) || !isObject([]byte(body)) || attempt <= 0 {
				raw := []string{"task_id", id, "body", body}
				out.Corrupt = append(out.Corrupt, q.bury(ctx, tenant, group, entry, id, true, "task record or body did not decode", raw))
				continue
			}
			out.Tasks = append(out.Tasks, taskq.Task{
				ID: id, Tenant: tenant, Group: group, Body: json.RawMessage(body), Attempt: int(attempt),
			})
		case kind == "dead" && len(f) == 2:
			var dl taskq.DeadLetter
			if err := json.Unmarshal([]byte(str(f, 1)), &dl); err != nil {
				// The script wrote it from a body it checked; this is a
				// defect, reported as a corrupt entry (it is already
				// dead-lettered).
				out.Corrupt = append(out.Corrupt, taskq.Corrupt{
					Stream: stream, Reason: "dead letter did not decode",
					Err: fmt.Errorf("claim: dead letter: %w", err),
				})
				continue
			}
			out.Dead = append(out.Dead, dl)
		case kind == "raw" && len(f) >= 3:
			fields := make([]string, 0, len(f)-3)
			for i := 3; i < len(f); i++ {
				fields = append(fields, str(f, i))
			}
			out.Corrupt = append(out.Corrupt, q.bury(ctx, tenant, group, str(f, 1), fieldValue(fields, "task_id"), false, str(f, 2), fields))
		default:
			out.Corrupt = append(out.Corrupt, taskq.Corrupt{
				Stream: stream, Reason: "unexpected claim answer",
				Err: fmt.Errorf("claim: %w: unexpected answer %v", taskq.ErrUnavailable, it),
			})
		}
	}
	return out, nil
}

// bury moves the stream entry, which did not decode, to the dead-letter
// list. taskID is the entry's task_id when it has the form of one (kept in
// the letter); owned says the claim already updated that task's record for
// this entry, so the task dies with it (a foreign entry never touches a
// record).
func (q *Queue) bury(ctx context.Context, tenant, group, entry, taskID string, owned bool, reason string, fields []string) taskq.Corrupt {
	stream := q.StreamKey(tenant, group)
	c := taskq.Corrupt{Stream: stream, EntryID: entry, Reason: reason}
	dl := taskq.DeadLetter{EntryID: entry, Reason: taskq.DeadDecode, Raw: clip(fields), At: q.clock()}
	if taskq.ValidID(taskID) {
		dl.TaskID = taskID
	}
	record := ""
	if owned && dl.TaskID != "" {
		record = dl.TaskID
	}
	js, err := json.Marshal(dl)
	if err != nil {
		c.Err = fmt.Errorf("dead-letter %s: %w", entry, err)
		return c
	}
	c.Err = q.call(ctx, "dead-letter "+entry, func(ctx context.Context) error {
		return deadScript.Run(ctx, q.c, []string{stream, q.DeadKey(tenant, group)},
			entry, js, q.lim.QueueMax, q.base(tenant), record, ms(q.lim.ResultTTL)).Err()
	})
	return c
}

// clip renders an entry's fields as read (a JSON array of field, value,
// ...), cut to maxRaw bytes.
func clip(fields []string) string {
	if fields == nil {
		fields = []string{}
	}
	b, err := json.Marshal(fields)
	if err != nil { // strings always marshal
		return fmt.Sprint(fields)
	}
	if len(b) > maxRaw {
		b = b[:maxRaw]
	}
	return string(b)
}

// fieldValue is the first value of field in a flat field, value list.
func fieldValue(fields []string, field string) string {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == field {
			return fields[i+1]
		}
	}
	return ""
}

func str(f []any, i int) string {
	if i >= len(f) {
		return ""
	}
	s, _ := f[i].(string)
	return s
}

func (q *Queue) now() string { return q.clock().Format(time.RFC3339Nano) }

// Complete implements taskq.Queue.
func (q *Queue) Complete(ctx context.Context, tenant, group, worker, id string, ok bool, result []byte) (taskq.State, error) {
	if q.closed.Load() {
		return "", fmt.Errorf("complete: %w", taskq.ErrClosed)
	}
	if !taskq.ValidID(id) {
		return "", fmt.Errorf("complete %q: %w", id, taskq.ErrNotHeld)
	}
	state := taskq.StateFailed
	if ok {
		state = taskq.StateDone
	}
	var res int64
	err := q.call(ctx, "complete", func(ctx context.Context) error {
		var err error
		res, err = completeScript.Run(ctx, q.c, []string{q.StreamKey(tenant, group), q.taskKey(tenant, id)},
			worker, group, string(state), result, ms(q.lim.ResultTTL), ms(q.lim.Visibility)).Int64()
		return err
	})
	if err != nil {
		return "", err
	}
	if res != 1 {
		return "", fmt.Errorf("complete %s: %w", id, taskq.ErrNotHeld)
	}
	return state, nil
}

// Release implements taskq.Queue.
func (q *Queue) Release(ctx context.Context, tenant, group, worker string, ids []string) error {
	args := []any{q.base(tenant), worker, group, ms(q.lim.Visibility)}
	for _, id := range ids {
		if taskq.ValidID(id) { // anything else is held by nobody
			args = append(args, id)
		}
	}
	return q.call(ctx, "release", func(ctx context.Context) error {
		return releaseScript.Run(ctx, q.c, []string{q.StreamKey(tenant, group)}, args...).Err()
	})
}

// Get implements taskq.Queue.
func (q *Queue) Get(ctx context.Context, tenant, id string) (taskq.Info, error) {
	if q.closed.Load() {
		return taskq.Info{}, fmt.Errorf("get: %w", taskq.ErrClosed)
	}
	if !taskq.ValidID(id) {
		return taskq.Info{}, fmt.Errorf("get %q: %w", id, taskq.ErrNotFound)
	}
	var h map[string]string
	err := q.call(ctx, "get", func(ctx context.Context) error {
		var err error
		h, err = q.c.HGetAll(ctx, q.taskKey(tenant, id)).Result()
		return err
	})
	if err != nil {
		return taskq.Info{}, err
	}
	if len(h) == 0 {
		return taskq.Info{}, fmt.Errorf("get %s: %w", id, taskq.ErrNotFound)
	}
	info := taskq.Info{ID: id, Group: h["group"], State: taskq.State(h["state"])}
	if _, err := fmt.Sscan(h["attempts"], &info.Attempts); err != nil {
		return taskq.Info{}, fmt.Errorf("get %s: attempts %q: %w", id, h["attempts"], err)
	}
	if r, ok := h["result"]; ok && (info.State == taskq.StateDone || info.State == taskq.StateFailed) {
		info.Result = json.RawMessage(r)
	}
	return info, nil
}

// DeadLetters implements taskq.Queue. An item of the list that does not
// decode (written by something else) is returned as a DeadDecode letter
// carrying it in Raw.
func (q *Queue) DeadLetters(ctx context.Context, tenant, group string, limit int) ([]taskq.DeadLetter, error) {
	stop := int64(-1)
	if limit > 0 {
		stop = int64(limit) - 1
	}
	var items []string
	err := q.call(ctx, "dead letters", func(ctx context.Context) error {
		var err error
		items, err = q.c.LRange(ctx, q.DeadKey(tenant, group), 0, stop).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]taskq.DeadLetter, 0, len(items))
	for _, it := range items {
		var dl taskq.DeadLetter
		if err := json.Unmarshal([]byte(it), &dl); err != nil {
			dl = taskq.DeadLetter{Reason: taskq.DeadDecode, Raw: clip([]string{it})}
		}
		out = append(out, dl)
	}
	return out, nil
}

// Close implements taskq.Queue: later calls fail with ErrClosed. The
// client belongs to the caller.
func (q *Queue) Close() error {
	q.closed.Store(true)
	return nil
}
