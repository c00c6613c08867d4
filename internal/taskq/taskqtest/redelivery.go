package taskqtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

// redeliveryCases: expired and released deliveries, dead letters, and the
// life of a finished task.
func redeliveryCases() []testCase {
	return []testCase{
		{"an expired delivery goes to another worker with the next attempt", shortVisibility, testRedeliveryAttempts},
		{"a delivery is not held after its deadline even before anyone reclaims it", shortVisibility, testCompleteLate},
		{"expired deliveries are claimed before queued tasks", shortVisibility, testExpiredFirst},
		{"a released task is claimable at once with the next attempt", nil, testRelease},
		{"releasing tasks not held is not an error and changes nothing", nil, testReleaseNotHeld},
		{"a task whose last attempt expires is dead and never delivered again", func(l *taskq.Limits) {
			shortVisibility(l)
			l.MaxAttempts = 2
		}, testMaxAttempts},
		{"the dead-letter list is oldest first and honours its limit", func(l *taskq.Limits) {
			shortVisibility(l)
			l.MaxAttempts = 1
		}, testDeadLetterOrder},
		{"finished tasks are not found once their result ttl passed", func(l *taskq.Limits) {
			shortVisibility(l)
			l.MaxAttempts = 1
		}, testResultTTL},
	}
}

func testRedeliveryAttempts(t *testing.T, h *harness) {
	id := h.submit(t, acme, group, `{"n":1}`)
	for attempt, worker := range []string{"w1", "w2", "w3"} {
		tk := h.claimOne(t, acme, group, worker)
		assert.Equal(t, id, tk.ID)
		assert.Equal(t, attempt+1, tk.Attempt, "delivery to %s", worker)
		assert.JSONEq(t, `{"n":1}`, string(tk.Body), "a redelivery carries the body")
		info := h.get(t, acme, id)
		assert.Equal(t, taskq.StateRunning, info.State)
		assert.Equal(t, attempt+1, info.Attempts, "attempts counts deliveries")
		if worker != "w3" {
			assert.Empty(t, h.claim(t, acme, group, "other", 1).Tasks, "not claimable while %s holds it", worker)
			h.expire()
		}
	}
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w3", id, true, `{}`))
	assert.Equal(t, 3, h.get(t, acme, id).Attempts)
}

func testCompleteLate(t *testing.T, h *harness) {
	id := h.submit(t, acme, group, `{}`)
	h.claimOne(t, acme, group, "w1")
	h.expire()
	_, err := h.Queue.Complete(h.ctx, acme, group, "w1", id, true, []byte(`{"late":true}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "the delivery expired")
	tk := h.claimOne(t, acme, group, "w2")
	assert.Equal(t, id, tk.ID)
	assert.Equal(t, 2, tk.Attempt)
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w2", id, true, `{"by":"w2"}`))
	info := h.get(t, acme, id)
	assert.Equal(t, taskq.StateDone, info.State)
	assert.JSONEq(t, `{"by":"w2"}`, string(info.Result))
}

func testExpiredFirst(t *testing.T, h *harness) {
	first := h.submit(t, acme, group, `{"n":1}`)
	h.claimOne(t, acme, group, "w1")
	second := h.submit(t, acme, group, `{"n":2}`)
	h.expire()
	tk := h.claimOne(t, acme, group, "w2")
	assert.Equal(t, first, tk.ID, "the expired task comes before the queued one")
	assert.Equal(t, 2, tk.Attempt)
	tk = h.claimOne(t, acme, group, "w2")
	assert.Equal(t, second, tk.ID)
	assert.Equal(t, 1, tk.Attempt)
}

func testRelease(t *testing.T, h *harness) {
	a := h.submit(t, acme, group, `{"n":1}`)
	b := h.submit(t, acme, group, `{"n":2}`)
	c := h.claim(t, acme, group, "w1", 2)
	require.Equal(t, []string{a, b}, ids(c.Tasks))
	queued := h.submit(t, acme, group, `{"n":3}`)

	require.NoError(t, h.Queue.Release(h.ctx, acme, group, "w1", []string{a}))
	tk := h.claimOne(t, acme, group, "w2")
	assert.Equal(t, a, tk.ID, "the released task comes before the queued one, at once")
	assert.Equal(t, 2, tk.Attempt, "a release keeps the attempts")
	assert.Equal(t, 2, h.get(t, acme, a).Attempts)
	_, err := h.Queue.Complete(h.ctx, acme, group, "w1", a, true, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "the releaser holds it no more")
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w2", a, true, `{}`))

	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w1", b, true, `{}`), "w1 still holds what it kept")
	tk = h.claimOne(t, acme, group, "w3")
	assert.Equal(t, queued, tk.ID)
	assert.Equal(t, 1, tk.Attempt)
}

func testReleaseNotHeld(t *testing.T, h *harness) {
	held := h.submit(t, acme, group, `{"n":1}`)
	done := h.submit(t, acme, group, `{"n":2}`)
	queued := h.submit(t, acme, group, `{"n":3}`)
	h.claimOne(t, acme, group, "w1")
	h.claimOne(t, acme, group, "w2")
	h.complete(t, acme, group, "w2", done, true, `{}`)

	require.NoError(t, h.Queue.Release(h.ctx, acme, group, "w2",
		[]string{held, done, queued, taskq.NewID(), "nope"}))
	require.NoError(t, h.Queue.Release(h.ctx, acme, group, "w9", nil))
	require.NoError(t, h.Queue.Release(h.ctx, acme, "empty-group", "w2", []string{held}))

	tk := h.claimOne(t, acme, group, "w3")
	assert.Equal(t, queued, tk.ID, "w1's task was not released by w2")
	assert.Equal(t, 1, tk.Attempt)
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w1", held, true, `{}`), "w1 still holds it")
	assert.Equal(t, taskq.StateDone, h.get(t, acme, done).State)
}

func testMaxAttempts(t *testing.T, h *harness) {
	doomed := h.submit(t, acme, group, `{"doomed":true}`)
	h.claimOne(t, acme, group, "w1")
	h.expire()
	tk := h.claimOne(t, acme, group, "w2")
	require.Equal(t, 2, tk.Attempt)
	next := h.submit(t, acme, group, `{"next":true}`)
	h.expire()

	c := h.claim(t, acme, group, "w3", 1)
	assert.Equal(t, []string{next}, ids(c.Tasks), "a dead task does not count against n")
	require.Len(t, c.Dead, 1)
	d := c.Dead[0]
	assert.Equal(t, doomed, d.TaskID)
	assert.Equal(t, taskq.DeadAttempts, d.Reason)
	assert.Equal(t, 2, d.Attempts)
	assert.Equal(t, `{"doomed":true}`, string(d.Body))
	assert.False(t, d.At.IsZero(), "the entry says when")
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w3", next, true, `{}`))

	info := h.get(t, acme, doomed)
	assert.Equal(t, taskq.StateDead, info.State)
	assert.Equal(t, 2, info.Attempts)
	dl := h.dead(t, acme, group, 0)
	require.Len(t, dl, 1)
	assert.Equal(t, doomed, dl[0].TaskID)
	assert.Equal(t, taskq.DeadAttempts, dl[0].Reason)
	assert.Equal(t, 2, dl[0].Attempts)
	assert.Equal(t, `{"doomed":true}`, string(dl[0].Body))

	_, err := h.Queue.Complete(h.ctx, acme, group, "w2", doomed, true, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "the last holder cannot complete a dead task")
	h.expire()
	alive := h.submit(t, acme, group, `{"alive":true}`)
	c = h.claim(t, acme, group, "w4", 5)
	assert.Equal(t, []string{alive}, ids(c.Tasks), "the dead task is never delivered again")
	assert.Empty(t, c.Dead, "nor retired twice")
	assert.Len(t, h.dead(t, acme, group, 0), 1)
}

// killOne submits a task and lets its only attempt expire; the Claim that
// retires it must return it alone.
func killOne(t *testing.T, h *harness, body string) string {
	t.Helper()
	id := h.submit(t, acme, group, body)
	h.claimOne(t, acme, group, "w1")
	h.expire()
	c := h.claim(t, acme, group, "w2", 1)
	require.Empty(t, c.Tasks)
	require.Equal(t, []string{id}, deadIDs(c.Dead))
	return id
}

func testDeadLetterOrder(t *testing.T, h *harness) {
	first := killOne(t, h, `{"n":1}`)
	second := killOne(t, h, `{"n":2}`)
	third := killOne(t, h, `{"n":3}`)
	assert.Equal(t, []string{first, second, third}, deadIDs(h.dead(t, acme, group, 0)))
	assert.Equal(t, []string{first, second, third}, deadIDs(h.dead(t, acme, group, -1)), "a negative limit is no limit")
	assert.Equal(t, []string{first, second}, deadIDs(h.dead(t, acme, group, 2)))
	assert.Equal(t, []string{first, second, third}, deadIDs(h.dead(t, acme, group, 10)))
	assert.Empty(t, h.dead(t, acme, "other", 0), "another group has its own list")
}

func testResultTTL(t *testing.T, h *harness) {
	dead := killOne(t, h, `{"n":0}`)
	done := h.submit(t, acme, group, `{"n":1}`)
	failed := h.submit(t, acme, group, `{"n":2}`)
	h.claim(t, acme, group, "w1", 2)
	h.complete(t, acme, group, "w1", done, true, `{"ok":1}`)
	h.complete(t, acme, group, "w1", failed, false, `{"ok":0}`)
	queued := h.submit(t, acme, group, `{"n":3}`)
	for _, id := range []string{dead, done, failed} {
		assert.True(t, h.get(t, acme, id).State.Final(), "%s is readable once finished", id)
	}

	h.Advance(h.lim.ResultTTL + h.lim.Visibility + Margin)
	for _, id := range []string{dead, done, failed} {
		_, err := h.Queue.Get(h.ctx, acme, id)
		assert.ErrorIs(t, err, taskq.ErrNotFound, "%s outlived its result ttl", id)
	}
	info := h.get(t, acme, queued)
	assert.Equal(t, taskq.StateQueued, info.State, "a queued task never expires")
	tk := h.claimOne(t, acme, group, "w2")
	assert.Equal(t, queued, tk.ID)
}
