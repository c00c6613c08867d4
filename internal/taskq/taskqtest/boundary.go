package taskqtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

// queueMax is QueueMax in the test of the bound.
const queueMax = 3

// boundaryCases: the queue bound and the walls between tenants and groups.
func boundaryCases() []testCase {
	return []testCase{
		{"a full group refuses tasks until one finishes", func(l *taskq.Limits) {
			l.QueueMax = queueMax
		}, testQueueFull},
		{"a tenant never reaches another tenant's tasks", nil, testTenantIsolation},
		{"the groups of a tenant are separate queues", nil, testGroupIsolation},
	}
}

func testQueueFull(t *testing.T, h *harness) {
	var queued []string
	for range queueMax {
		queued = append(queued, h.submit(t, acme, group, `{}`))
	}
	refused := taskq.NewID()
	err := h.Queue.Submit(h.ctx, acme, group, refused, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrQueueFull)
	_, err = h.Queue.Get(h.ctx, acme, refused)
	require.ErrorIs(t, err, taskq.ErrNotFound, "a refused task is not stored")

	h.submit(t, acme, "other", `{}`) // another group has its own bound
	h.submit(t, globex, group, `{}`) // and so has another tenant's group

	tk := h.claimOne(t, acme, group, "w1")
	require.Equal(t, queued[0], tk.ID)
	err = h.Queue.Submit(h.ctx, acme, group, taskq.NewID(), []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrQueueFull, "a running task still counts")
	h.complete(t, acme, group, "w1", tk.ID, false, `{}`)
	h.submit(t, acme, group, `{}`) // a finished task made room
	err = h.Queue.Submit(h.ctx, acme, group, taskq.NewID(), []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrQueueFull, "and only one")
}

func testTenantIsolation(t *testing.T, h *harness) {
	mine := h.submit(t, acme, group, `{"tenant":"acme"}`)
	_, err := h.Queue.Get(h.ctx, globex, mine)
	require.ErrorIs(t, err, taskq.ErrNotFound, "globex reads acme's task")
	assert.Empty(t, h.claim(t, globex, group, "g1", 5).Tasks, "globex's group of the same name is empty")

	theirs := h.submit(t, globex, group, `{"tenant":"globex"}`)
	tk := h.claimOne(t, acme, group, "w1")
	assert.Equal(t, mine, tk.ID)
	assert.Equal(t, acme, tk.Tenant)
	assert.Empty(t, h.claim(t, acme, group, "w1", 5).Tasks, "acme's group holds only acme's task")

	_, err = h.Queue.Complete(h.ctx, globex, group, "w1", mine, true, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "the same worker name in globex")
	require.NoError(t, h.Queue.Release(h.ctx, globex, group, "w1", []string{mine}))
	assert.Empty(t, h.claim(t, acme, group, "w2", 5).Tasks, "globex's release left acme's task held")

	tk = h.claimOne(t, globex, group, "w1")
	assert.Equal(t, theirs, tk.ID)
	assert.Equal(t, globex, tk.Tenant)
	assert.JSONEq(t, `{"tenant":"globex"}`, string(tk.Body))
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, group, "w1", mine, true, `{"r":"acme"}`))
	assert.Equal(t, taskq.StateFailed, h.complete(t, globex, group, "w1", theirs, false, `{"r":"globex"}`))
	assert.JSONEq(t, `{"r":"acme"}`, string(h.get(t, acme, mine).Result))
	assert.JSONEq(t, `{"r":"globex"}`, string(h.get(t, globex, theirs).Result))
	_, err = h.Queue.Get(h.ctx, acme, theirs)
	require.ErrorIs(t, err, taskq.ErrNotFound, "acme reads globex's finished task")
}

func testGroupIsolation(t *testing.T, h *harness) {
	a := h.submit(t, acme, "alpha", `{"g":"alpha"}`)
	b := h.submit(t, acme, "beta", `{"g":"beta"}`)
	tk := h.claimOne(t, acme, "alpha", "w1")
	assert.Equal(t, a, tk.ID)
	assert.Equal(t, "alpha", tk.Group)
	assert.Empty(t, h.claim(t, acme, "alpha", "w1", 5).Tasks)

	_, err := h.Queue.Complete(h.ctx, acme, "beta", "w1", a, true, []byte(`{}`))
	require.ErrorIs(t, err, taskq.ErrNotHeld, "completing through the wrong group")
	require.NoError(t, h.Queue.Release(h.ctx, acme, "beta", "w1", []string{a}))
	assert.Empty(t, h.claim(t, acme, "alpha", "w2", 5).Tasks, "a release through the wrong group changed nothing")

	tk = h.claimOne(t, acme, "beta", "w1")
	assert.Equal(t, b, tk.ID)
	assert.Equal(t, "beta", tk.Group)
	assert.Equal(t, "alpha", h.get(t, acme, a).Group, "get needs no group")
	assert.Equal(t, "beta", h.get(t, acme, b).Group)
	assert.Equal(t, taskq.StateDone, h.complete(t, acme, "alpha", "w1", a, true, `{}`))
}
