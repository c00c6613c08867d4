package memq_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
)

var ctx = context.Background()

func newQueue(lim taskq.Limits) (*memq.Queue, *taskqtest.Clock) {
	clock := taskqtest.NewClock()
	return memq.New(memq.Options{Limits: lim, Clock: clock.Now}), clock
}

// finishAll submits n tasks to (tenant, "g") and completes them.
func finishAll(t *testing.T, q *memq.Queue, tenant string, n int) {
	t.Helper()
	for range n {
		require.NoError(t, q.Submit(ctx, tenant, "g", taskq.NewID(), []byte(`{}`)))
	}
	c, err := q.Claim(ctx, tenant, "g", "w", n)
	require.NoError(t, err)
	require.Len(t, c.Tasks, n)
	for _, tk := range c.Tasks {
		_, err := q.Complete(ctx, tenant, "g", "w", tk.ID, true, []byte(`{"r":1}`))
		require.NoError(t, err)
	}
}

// TestFinishedTasksNobodyReadsAreForgotten: results nobody asks for again
// leave memory once their ttl passed, through other tenants' calls.
func TestFinishedTasksNobodyReadsAreForgotten(t *testing.T) {
	q, clock := newQueue(taskq.Limits{MaxAttempts: 3, Visibility: time.Minute, ResultTTL: time.Hour})
	finishAll(t, q, "idle", 500)
	assert.Equal(t, 500, q.Tasks(), "finished tasks stay for their ttl")
	assert.Zero(t, q.Groups(), "a group with nothing unfinished is dropped")
	clock.Advance(time.Hour - time.Second)
	_, err := q.Get(ctx, "busy", "task_unknown")
	require.ErrorIs(t, err, taskq.ErrNotFound)
	assert.Equal(t, 500, q.Tasks(), "nothing expired yet")

	clock.Advance(time.Second)
	calls := 0
	for q.Tasks() > 0 && calls < 100 {
		_, err := q.Get(ctx, "busy", "task_unknown")
		require.ErrorIs(t, err, taskq.ErrNotFound)
		calls++
	}
	assert.Zero(t, q.Tasks(), "every expired task was forgotten")
	assert.Greater(t, calls, 1, "one call sweeps a bounded batch")
}

// TestGetForgetsTheExpiredTaskItReads: Get never answers with an expired
// result, even before the sweep reached it.
func TestGetForgetsTheExpiredTaskItReads(t *testing.T) {
	q, clock := newQueue(taskq.Limits{MaxAttempts: 3, Visibility: time.Minute, ResultTTL: time.Minute})
	id := taskq.NewID()
	require.NoError(t, q.Submit(ctx, "t", "g", id, []byte(`{}`)))
	_, err := q.Claim(ctx, "t", "g", "w", 1)
	require.NoError(t, err)
	_, err = q.Complete(ctx, "t", "g", "w", id, true, []byte(`{}`))
	require.NoError(t, err)
	info, err := q.Get(ctx, "t", id)
	require.NoError(t, err)
	assert.Equal(t, taskq.StateDone, info.State)
	clock.Advance(time.Minute)
	_, err = q.Get(ctx, "t", id)
	require.ErrorIs(t, err, taskq.ErrNotFound)
	assert.Zero(t, q.Tasks())
}

// killed lets n tasks of (t, g) die after one attempt each, one Claim at
// a time, and returns their ids in the order they died.
func killed(t *testing.T, q *memq.Queue, clock *taskqtest.Clock, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		id := taskq.NewID()
		require.NoError(t, q.Submit(ctx, "t", "g", id, fmt.Appendf(nil, `{"i":%d}`, i)))
		_, err := q.Claim(ctx, "t", "g", "w", 1)
		require.NoError(t, err)
		clock.Advance(time.Minute)
		c, err := q.Claim(ctx, "t", "g", "w", 1)
		require.NoError(t, err)
		require.Len(t, c.Dead, 1)
		out = append(out, c.Dead[0].TaskID)
	}
	return out
}

func deadIDs(t *testing.T, q *memq.Queue) []string {
	t.Helper()
	dl, err := q.DeadLetters(ctx, "t", "g", 0)
	require.NoError(t, err)
	var out []string
	for _, d := range dl {
		out = append(out, d.TaskID)
	}
	return out
}

// TestTheDeadLetterListKeepsTheNewestQueueMax: with QueueMax > 0 the list
// of a group is bounded, dropping the oldest entries.
func TestTheDeadLetterListKeepsTheNewestQueueMax(t *testing.T) {
	q, clock := newQueue(taskq.Limits{QueueMax: 3, MaxAttempts: 1, Visibility: time.Second, ResultTTL: time.Hour})
	ids := killed(t, q, clock, 3)
	assert.Equal(t, ids, deadIDs(t, q), "at the bound nothing is dropped")
	ids = append(ids, killed(t, q, clock, 5)...)
	assert.Equal(t, ids[len(ids)-3:], deadIDs(t, q))
	dl, err := q.DeadLetters(ctx, "t", "g", 2)
	require.NoError(t, err)
	require.Len(t, dl, 2)
	assert.Equal(t, ids[len(ids)-3], dl[0].TaskID, "the limit counts from the oldest kept")
}

// TestTheDeadLetterListIsUnboundedWithoutQueueMax: no QueueMax, no bound.
func TestTheDeadLetterListIsUnboundedWithoutQueueMax(t *testing.T) {
	q, clock := newQueue(taskq.Limits{MaxAttempts: 1, Visibility: time.Second, ResultTTL: time.Hour})
	ids := killed(t, q, clock, 7)
	assert.Equal(t, ids, deadIDs(t, q))
}
