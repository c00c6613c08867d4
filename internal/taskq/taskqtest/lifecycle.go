package taskqtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

// lifecycleCases: a task's way from Submit to Complete, and Close.
func lifecycleCases() []testCase {
	return []testCase{
		{"a submitted task reads as queued with no attempts and no result", nil, testSubmitGet},
		{"the body is delivered byte for byte as submitted", nil, testBodyExact},
		{"queued tasks are delivered in submission order", nil, testFIFO},
		{"claim hands out at most n tasks and nothing from an empty group", nil, testClaimBounds},
		{"a success completes as done and an error as failed, each with its result", nil, testComplete},
		{"only the holder completes a task, and only once", nil, testCompleteNotHeld},
		{"an unknown task id is not found", nil, testUnknown},
		{"concurrent claims hand every task out once to one worker", nil, testConcurrentClaims},
		{"close is idempotent and later calls fail with ErrClosed", nil, testClose},
	}
}

func testSubmitGet(t *testing.T, h *harness) {
	id := h.submit(t, acme, group, `{"n":1}`)
	info := h.get(t, acme, id)
	assert.Equal(t, taskq.Info{ID: id, Group: group, State: taskq.StateQueued}, normal(info))
}

// normal makes an empty result nil, so a backend may answer either.
func normal(i taskq.Info) taskq.Info {
	if len(i.Result) == 0 {
		i.Result = nil
	}
	return i
}

func testBodyExact(t *testing.T, h *harness) {
	body := "{ \"b\" : [1, 2.50, \"é\\u0000\\\"x\\n\"],\n\t\"a\":null, \"k\":{\"\":\"\\ud83d\\ude00 😀\"} }"
	id := h.submit(t, acme, group, body)
	tk := h.claimOne(t, acme, group, "w1")
	assert.Equal(t, taskq.Task{ID: id, Tenant: acme, Group: group, Body: []byte(body), Attempt: 1}, tk)
	assert.Equal(t, body, string(tk.Body))
}

func testFIFO(t *testing.T, h *harness) {
	var want []string
	for i := range 7 {
		want = append(want, h.submit(t, acme, group, fmt.Sprintf(`{"i":%d}`, i)))
	}
	var got []string
	for _, n := range []int{1, 2, 3, 1} {
		got = append(got, ids(h.claim(t, acme, group, "w1", n).Tasks)...)
	}
	assert.Equal(t, want, got)
}

func testClaimBounds(t *testing.T, h *harness) {
	assert.Empty(t, h.claim(t, acme, group, "w1", 3).Tasks, "an empty group hands out nothing")
	for range 5 {
		h.submit(t, acme, group, `{}`)
	}
	assert.Len(t, h.claim(t, acme, group, "w1", 2).Tasks, 2)
	assert.Len(t, h.claim(t, acme, group, "w2", 10).Tasks, 3, "only three were left")
	c := h.claim(t, acme, group, "w3", 10)
	assert.Empty(t, c.Tasks, "every task is held")
	assert.Empty(t, c.Dead)
}

func testComplete(t *testing.T, h *harness) {
	good := h.submit(t, acme, group, `{"n":1}`)
	bad := h.submit(t, acme, group, `{"n":2}`)
	c := h.claim(t, acme, group, "w1", 2)
	require.Equal(t, []string{good, bad}, ids(c.Tasks))
	assert.Equal(t, taskq.StateRunning, h.get(t, acme, good).State)

	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w1", good, true, `{"answer":42}`))
	assert.Equal(t, taskq.StateFailed, h.complete(t, acme, group, "w1", bad, false, `{"error":"no"}`))
	assert.Equal(t, taskq.Info{ID: good, Group: group, State: taskq.StateDone, Attempts: 1, Result: []byte(`{"answer":42}`)},
		h.get(t, acme, good))
	assert.Equal(t, taskq.Info{ID: bad, Group: group, State: taskq.StateFailed, Attempts: 1, Result: []byte(`{"error":"no"}`)},
		h.get(t, acme, bad))
	c = h.claim(t, acme, group, "w2", 5)
	assert.Empty(t, c.Tasks, "a finished task is not delivered again")
}

func testCompleteNotHeld(t *testing.T, h *harness) {
	id := h.submit(t, acme, group, `{}`)
	_, err := h.Queue.Complete(h.ctx, acme, group, "w1", id, true, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "a queued task is held by nobody")

	h.claimOne(t, acme, group, "w1")
	_, err = h.Queue.Complete(h.ctx, acme, group, "w2", id, true, []byte(`{"by":"w2"}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "w2 does not hold it")
	_, err = h.Queue.Complete(h.ctx, acme, group, "w1", taskq.NewID(), true, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "an unknown id is held by nobody")

	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w1", id, true, `{"by":"w1"}`), "the holder still does")
	_, err = h.Queue.Complete(h.ctx, acme, group, "w1", id, false, []byte(`{"again":true}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "a task is completed once")
	info := h.get(t, acme, id)
	assert.Equal(t, taskq.StateDone, info.State)
	assert.JSONEq(t, `{"by":"w1"}`, string(info.Result), "only the holder's first answer is recorded")
}

func testUnknown(t *testing.T, h *harness) {
	h.submit(t, acme, group, `{}`) // the tenant and group exist
	for _, id := range []string{taskq.NewID(), "nope", ""} {
		_, err := h.Queue.Get(h.ctx, acme, id)
		assert.ErrorIs(t, err, taskq.ErrNotFound, "id %q", id)
	}
	_, err := h.Queue.Get(h.ctx, "nobody", taskq.NewID())
	assert.ErrorIs(t, err, taskq.ErrNotFound, "a tenant that never submitted")
	assert.Empty(t, h.dead(t, acme, group, 0))
	assert.Empty(t, h.dead(t, acme, "never-used", 0))
}

func testConcurrentClaims(t *testing.T, h *harness) {
	const tasks, workers = 200, 8
	want := map[string]bool{}
	for i := range tasks {
		want[h.submit(t, acme, group, fmt.Sprintf(`{"i":%d}`, i))] = true
	}
	var mu sync.Mutex
	holder := map[string]string{} // task id -> the worker it went to
	var wg sync.WaitGroup
	for w := range workers {
		worker := fmt.Sprint("w", w)
		wg.Go(func() {
			for {
				c, err := h.Queue.Claim(h.ctx, acme, group, worker, 1+w%3)
				if !assert.NoError(t, err) || len(c.Tasks) == 0 {
					return
				}
				for _, tk := range c.Tasks {
					mu.Lock()
					prev, twice := holder[tk.ID]
					holder[tk.ID] = worker
					mu.Unlock()
					assert.False(t, twice, "%s went to %s and %s", tk.ID, prev, worker)
					assert.Equal(t, 1, tk.Attempt, "%s delivered again", tk.ID)
					st, err := h.Queue.Complete(h.ctx, acme, group, worker, tk.ID, true, []byte(`{}`))
					assert.NoError(t, err, "%s completes %s", worker, tk.ID)
					assert.Equal(t, taskq.StateDone, st)
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, holder, tasks, "every task was handed out")
	for id := range holder {
		assert.True(t, want[id], "%s was never submitted", id)
	}
	assert.Empty(t, h.claim(t, acme, group, "late", tasks).Tasks)
}

func testClose(t *testing.T, h *harness) {
	id := h.submit(t, acme, group, `{}`)
	require.NoError(t, h.Queue.Close())
	require.NoError(t, h.Queue.Close(), "a second close")
	q := h.Queue
	assert.ErrorIs(t, q.Submit(h.ctx, acme, group, taskq.NewID(), []byte(`{}`)), taskq.ErrClosed)
	_, err := q.Claim(h.ctx, acme, group, "w1", 1)
	assert.ErrorIs(t, err, taskq.ErrClosed)
	_, err = q.Complete(h.ctx, acme, group, "w1", id, true, []byte(`{}`))
	assert.ErrorIs(t, err, taskq.ErrClosed)
	assert.ErrorIs(t, q.Release(h.ctx, acme, group, "w1", []string{id}), taskq.ErrClosed)
	_, err = q.Get(h.ctx, acme, id)
	assert.ErrorIs(t, err, taskq.ErrClosed)
	_, err = q.DeadLetters(h.ctx, acme, group, 0)
	assert.ErrorIs(t, err, taskq.ErrClosed)
}
