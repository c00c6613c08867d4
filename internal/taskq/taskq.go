package taskq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// State is where a task is in its life.
type State string

// Task states: queued (waiting for a worker), running (delivered, not
// finished), and the final ones: done (the worker answered success), failed
// (the worker answered error) and dead (its attempts ran out, or its stream
// entry could not be decoded).
const (
	StateQueued  State = "queued"
	StateRunning State = "running"
	StateDone    State = "done"
	StateFailed  State = "failed"
	StateDead    State = "dead"
)

// Final reports whether s is an end state (done, failed or dead).
func (s State) Final() bool { return s == StateDone || s == StateFailed || s == StateDead }

// Conditions a Queue or the Dispatcher reports; wrapped with detail.
var (
	// ErrQueueFull: the (tenant, group) already holds Limits.QueueMax
	// unfinished tasks.
	ErrQueueFull = errors.New("task queue full")
	// ErrNotFound: no such task in the tenant (never submitted, or its
	// result expired).
	ErrNotFound = errors.New("no such task")
	// ErrNotHeld: the worker does not hold the task (any more): it was
	// never delivered to it, its delivery expired, it was released, or it
	// was already completed.
	ErrNotHeld = errors.New("task not held by this worker")
	// ErrUnavailable: the backend did not answer.
	ErrUnavailable = errors.New("task queue unavailable")
	// ErrClosed: the queue or dispatcher was closed.
	ErrClosed = errors.New("task queue closed")
	// ErrGroupLimit: the worker already joined MaxGroupsPerWorker groups.
	ErrGroupLimit = errors.New("worker group limit reached")
)

// Limits are what a Queue enforces; the node takes them from config
// (ARQONBUS_TASK_*), which owns the defaults. A zero QueueMax is no bound;
// MaxAttempts, Visibility and ResultTTL must be positive.
type Limits struct {
	// QueueMax bounds the unfinished (queued or running) tasks of one
	// (tenant, group).
	QueueMax int
	// MaxAttempts is the deliveries of one task: when the delivery with
	// Attempt == MaxAttempts expires, the task is dead.
	MaxAttempts int
	// Visibility is how long a delivery may stay unfinished before the
	// task may be claimed again.
	Visibility time.Duration
	// ResultTTL keeps a finished task (done, failed or dead) readable.
	ResultTTL time.Duration
}

// Task is one delivery of a task to a worker.
type Task struct {
	ID      string          // task_<32 hex>
	Tenant  string          // the submitter's tenant
	Group   string          // the group it was submitted to
	Body    json.RawMessage // the task object exactly as submitted
	Attempt int             // this delivery's number: 1 on the first
}

// Info is what op.task.get answers about a task.
type Info struct {
	ID       string
	Group    string
	State    State
	Attempts int             // deliveries so far
	Result   json.RawMessage // done or failed: the worker's payload as sent; else nil
}

// DeadLetter is one entry of a group's dead-letter list.
type DeadLetter struct {
	TaskID   string          `json:"task_id,omitempty"`  // empty when the entry did not decode far enough
	EntryID  string          `json:"entry_id,omitempty"` // the stream entry (Redis), empty in memory
	Reason   string          `json:"reason"`             // DeadAttempts or DeadDecode
	Attempts int             `json:"attempts"`
	Body     json.RawMessage `json:"body,omitempty"` // the task when it decoded
	Raw      string          `json:"raw,omitempty"`  // the entry's fields as read, when it did not decode
	At       time.Time       `json:"at"`
}

// Reasons of a DeadLetter.
const (
	DeadAttempts = "attempts" // every delivery expired
	DeadDecode   = "decode"   // the stream entry could not be decoded
)

// Corrupt is a stream entry Claim could not decode. The backend has
// already acknowledged it and moved it to the dead-letter list; the
// dispatcher logs and counts it.
type Corrupt struct {
	Stream  string // the stream key
	EntryID string
	Reason  string // why it did not decode
	Err     error  // non-nil when moving it to the dead-letter list failed (it stays pending and is met again)
}

// Claimed is what one Claim handed out or retired.
type Claimed struct {
	// Tasks are delivered to the claiming worker; each counts as one
	// attempt.
	Tasks []Task
	// Dead are tasks whose last delivery expired with Attempt ==
	// MaxAttempts; they were moved to the dead-letter list instead.
	Dead []DeadLetter
	// Corrupt are stream entries that did not decode (dead-lettered).
	Corrupt []Corrupt
}

// Queue stores the tasks of every (tenant, group). Every call names the
// tenant from the caller's identity; no argument a client controls reaches
// another tenant's tasks. Errors other than the conditions above wrap
// ErrUnavailable when the backend did not answer.
type Queue interface {
	// Submit stores a task under id (NewID) with body (a JSON object) in
	// (tenant, group), state queued, attempts 0. It returns only once the
	// task is stored; ErrQueueFull when the group holds QueueMax
	// unfinished tasks (nothing is stored then).
	Submit(ctx context.Context, tenant, group, id string, body []byte) error
	// Claim hands worker up to n tasks of (tenant, group): first tasks
	// whose delivery expired (Visibility after it) or that were released,
	// then queued ones in submission order. Each handed task becomes
	// running, held by worker, with attempts+1. An expired task whose
	// attempts reached MaxAttempts is moved to the dead-letter list and
	// returned in Dead instead (it does not count against n).
	Claim(ctx context.Context, tenant, group, worker string, n int) (Claimed, error)
	// Complete finishes a task worker holds: done when ok, failed when
	// not, with result (the worker's payload as sent) kept for ResultTTL.
	// It returns the final state; ErrNotHeld when worker does not hold id
	// (never acknowledges twice).
	Complete(ctx context.Context, tenant, group, worker, id string, ok bool, result []byte) (State, error)
	// Release gives back the tasks ids that worker holds (it left or
	// disconnected): each may be claimed again at once, by any worker,
	// and keeps its attempts. Ids it no longer holds are skipped. The
	// backend then forgets worker if it holds nothing else in the group.
	Release(ctx context.Context, tenant, group, worker string, ids []string) error
	// Get reads a task of tenant; ErrNotFound when there is none (or its
	// result expired).
	Get(ctx context.Context, tenant, id string) (Info, error)
	// DeadLetters returns up to limit entries of the group's dead-letter
	// list, oldest first (limit <= 0: all).
	DeadLetters(ctx context.Context, tenant, group string, limit int) ([]DeadLetter, error)
	// Close releases the queue; later calls fail with ErrClosed. It is
	// idempotent.
	Close() error
}

// NewID returns a task id: task_ and 32 hex digits from crypto/rand.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "task_" + hex.EncodeToString(b[:])
}

// ValidID reports whether s has the form of a task id: task_ and 32
// lower-case hex digits. A response whose request_id has it is a task
// completion; any other routes as a message.
func ValidID(s string) bool {
	const prefix = "task_"
	if len(s) != len(prefix)+32 || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// MaxGroupLen is the longest group name.
const MaxGroupLen = 128

// ValidGroup reports whether g is a group name: 1-128 characters of
// [A-Za-z0-9_.:-].
func ValidGroup(g string) bool {
	if len(g) == 0 || len(g) > MaxGroupLen {
		return false
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// TruthGroup is the group truth.verify submits to (the original's alias).
const TruthGroup = "truth_workers"
