package redisq_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

const (
	tenant = "acme"
	group  = "science"
	vis    = time.Second
	ttl    = time.Minute
)

var ctx = context.Background()

// env is one queue on its own miniredis with a settable time.
type env struct {
	q     *redisq.Queue
	mr    *miniredis.Miniredis
	c     *redis.Client
	clock *taskqtest.Clock
}

func newEnv(t *testing.T, lim taskq.Limits) *env {
	t.Helper()
	mr := redistest.MiniRedis(t)
	clock := taskqtest.NewClock()
	mr.SetTime(clock.Now())
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	q, err := redisq.New(redisq.Options{Client: c, Limits: lim, Clock: clock.Now})
	require.NoError(t, err)
	return &env{q: q, mr: mr, c: c, clock: clock}
}

func limits() taskq.Limits {
	return taskq.Limits{QueueMax: 10, MaxAttempts: 2, Visibility: vis, ResultTTL: ttl}
}

func (e *env) advance(d time.Duration) {
	e.clock.Advance(d)
	e.mr.SetTime(e.clock.Now())
	e.mr.FastForward(d)
}

func (e *env) submit(t *testing.T, tn, body string) string {
	t.Helper()
	id := taskq.NewID()
	require.NoError(t, e.q.Submit(ctx, tn, group, id, []byte(body)))
	return id
}

func (e *env) claim(t *testing.T, tn, worker string, n int) taskq.Claimed {
	t.Helper()
	c, err := e.q.Claim(ctx, tn, group, worker, n)
	require.NoError(t, err)
	return c
}

// taskKey is where the queue keeps a task's record.
func (e *env) taskKey(tn, id string) string {
	s := e.q.StreamKey(tn, group)
	return s[:strings.Index(s, "}:")+2] + "t:" + id
}

func taskIDs(ts []taskq.Task) []string {
	out := make([]string, 0, len(ts))
	for _, tk := range ts {
		out = append(out, tk.ID)
	}
	return out
}

func TestATaskIsSubmittedClaimedAndCompletedOnce(t *testing.T) {
	e := newEnv(t, limits())
	id := e.submit(t, tenant, `{"n":1}`)
	info, err := e.q.Get(ctx, tenant, id)
	require.NoError(t, err)
	assert.Equal(t, taskq.Info{ID: id, Group: group, State: taskq.StateQueued}, info)

	c := e.claim(t, tenant, "w1", 5)
	require.Len(t, c.Tasks, 1)
	assert.Equal(t, taskq.Task{ID: id, Tenant: tenant, Group: group, Body: json.RawMessage(`{"n":1}`), Attempt: 1}, c.Tasks[0])
	assert.Empty(t, c.Dead)
	assert.Empty(t, c.Corrupt)
	info, err = e.q.Get(ctx, tenant, id)
	require.NoError(t, err)
	assert.Equal(t, taskq.StateRunning, info.State)
	assert.Equal(t, 1, info.Attempts)
	assert.Equal(t, time.Duration(0), e.mr.TTL(e.taskKey(tenant, id)), "an unfinished task has no TTL")

	_, err = e.q.Complete(ctx, tenant, group, "w2", id, true, []byte(`{"x":1}`))
	assert.ErrorIs(t, err, taskq.ErrNotHeld, "another worker does not hold it")
	st, err := e.q.Complete(ctx, tenant, group, "w1", id, true, []byte(`{"ok":true}`))
	require.NoError(t, err)
	assert.Equal(t, taskq.StateDone, st)
	_, err = e.q.Complete(ctx, tenant, group, "w1", id, true, []byte(`{"again":1}`))
	assert.ErrorIs(t, err, taskq.ErrNotHeld, "a second completion is not held")

	info, err = e.q.Get(ctx, tenant, id)
	require.NoError(t, err)
	assert.Equal(t, taskq.Info{ID: id, Group: group, State: taskq.StateDone, Attempts: 1, Result: json.RawMessage(`{"ok":true}`)}, info)
	assert.Equal(t, ttl, e.mr.TTL(e.taskKey(tenant, id)), "a finished task expires after ResultTTL")
	entries, err := e.mr.Stream(e.q.StreamKey(tenant, group))
	require.NoError(t, err)
	assert.Empty(t, entries, "the acknowledged entry is deleted")

	e.advance(ttl + time.Second)
	_, err = e.q.Get(ctx, tenant, id)
	assert.ErrorIs(t, err, taskq.ErrNotFound)
	assert.Empty(t, e.claim(t, tenant, "w1", 5).Tasks, "nothing is delivered twice")
}

func TestAFailedCompletionIsFinal(t *testing.T) {
	e := newEnv(t, limits())
	id := e.submit(t, tenant, `{}`)
	require.Len(t, e.claim(t, tenant, "w1", 1).Tasks, 1)
	st, err := e.q.Complete(ctx, tenant, group, "w1", id, false, []byte(`{"error":"boom"}`))
	require.NoError(t, err)
	assert.Equal(t, taskq.StateFailed, st)
	e.advance(2 * vis)
	assert.Empty(t, e.claim(t, tenant, "w2", 1).Tasks, "a failed task is not redelivered")
	info, err := e.q.Get(ctx, tenant, id)
	require.NoError(t, err)
	assert.Equal(t, json.RawMessage(`{"error":"boom"}`), info.Result)
}

func TestSubmitRefusesAFullGroupAndAcceptsOnceATaskFinishes(t *testing.T) {
	lim := limits()
	lim.QueueMax = 2
	e := newEnv(t, lim)
	a := e.submit(t, tenant, `{"i":1}`)
	e.submit(t, tenant, `{"i":2}`)
	require.Len(t, e.claim(t, tenant, "w1", 1).Tasks, 1, "a running task still counts")
	id := taskq.NewID()
	err := e.q.Submit(ctx, tenant, group, id, []byte(`{"i":3}`))
	require.ErrorIs(t, err, taskq.ErrQueueFull)
	_, err = e.q.Get(ctx, tenant, id)
	assert.ErrorIs(t, err, taskq.ErrNotFound, "nothing is stored when full")
	require.NoError(t, e.q.Submit(ctx, tenant, "other", taskq.NewID(), []byte(`{}`)), "the bound is per group")

	_, err = e.q.Complete(ctx, tenant, group, "w1", a, true, nil)
	require.NoError(t, err)
	assert.NoError(t, e.q.Submit(ctx, tenant, group, id, []byte(`{"i":3}`)))
}

func TestSubmitChecksItsArguments(t *testing.T) {
	e := newEnv(t, limits())
	err := e.q.Submit(ctx, tenant, group, "task_nope", []byte(`{}`))
	assert.Error(t, err)
	for _, body := range []string{`[1]`, `"s"`, `{"a":`, ``} {
		err = e.q.Submit(ctx, tenant, group, taskq.NewID(), []byte(body))
		assert.Error(t, err, "body %q", body)
		assert.NotErrorIs(t, err, taskq.ErrUnavailable)
	}
	id := e.submit(t, tenant, ` {"lead":"space"}`)
	err = e.q.Submit(ctx, tenant, group, id, []byte(`{}`))
	assert.ErrorContains(t, err, "taken", "an id is stored once")
	assert.False(t, e.mr.Exists(e.q.StreamKey(tenant, "never")), "no key exists before a submit")
	c := e.claim(t, tenant, "w1", 3)
	require.Len(t, c.Tasks, 1)
	assert.Equal(t, json.RawMessage(` {"lead":"space"}`), c.Tasks[0].Body, "the body is kept as submitted")
}

func TestAnExpiredDeliveryGoesToTheNextWorkerAndThenDies(t *testing.T) {
	e := newEnv(t, limits()) // MaxAttempts 2
	id := e.submit(t, tenant, `{"job":"x"}`)
	require.Len(t, e.claim(t, tenant, "w1", 1).Tasks, 1)
	assert.Empty(t, e.claim(t, tenant, "w2", 1).Tasks, "a live delivery is not claimed again")

	e.advance(vis)
	_, err := e.q.Complete(ctx, tenant, group, "w1", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrNotHeld, "an expired delivery is not held")
	c := e.claim(t, tenant, "w2", 1)
	require.Len(t, c.Tasks, 1)
	assert.Equal(t, 2, c.Tasks[0].Attempt)
	_, err = e.q.Complete(ctx, tenant, group, "w1", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrNotHeld, "the first worker lost it")

	e.advance(vis)
	c = e.claim(t, tenant, "w3", 1)
	assert.Empty(t, c.Tasks)
	require.Len(t, c.Dead, 1)
	want := taskq.DeadLetter{
		TaskID: id, EntryID: c.Dead[0].EntryID, Reason: taskq.DeadAttempts, Attempts: 2,
		Body: json.RawMessage(`{"job":"x"}`), At: e.clock.Now(),
	}
	assert.NotEmpty(t, c.Dead[0].EntryID)
	assert.Equal(t, want, c.Dead[0])
	dead, err := e.q.DeadLetters(ctx, tenant, group, 0)
	require.NoError(t, err)
	assert.Equal(t, []taskq.DeadLetter{want}, dead)
	info, err := e.q.Get(ctx, tenant, id)
	require.NoError(t, err)
	assert.Equal(t, taskq.Info{ID: id, Group: group, State: taskq.StateDead, Attempts: 2}, info)
	assert.Equal(t, ttl, e.mr.TTL(e.taskKey(tenant, id)))

	e.advance(vis)
	c = e.claim(t, tenant, "w3", 1)
	assert.Empty(t, c.Tasks)
	assert.Empty(t, c.Dead, "a dead task dies once")
	_, err = e.q.Complete(ctx, tenant, group, "w2", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrNotHeld)
}

func TestClaimHandsExpiredTasksFirstThenQueuedOnesInOrder(t *testing.T) {
	lim := limits()
	lim.MaxAttempts = 5
	e := newEnv(t, lim)
	a := e.submit(t, tenant, `{"i":"a"}`)
	b := e.submit(t, tenant, `{"i":"b"}`)
	require.Equal(t, []string{a}, taskIDs(e.claim(t, tenant, "w1", 1).Tasks))
	e.advance(vis)
	c := e.submit(t, tenant, `{"i":"c"}`)
	assert.Equal(t, []string{a, b}, taskIDs(e.claim(t, tenant, "w2", 2).Tasks))
	assert.Equal(t, []string{c}, taskIDs(e.claim(t, tenant, "w3", 5).Tasks))
}

// The XAUTOCLAIM cursor moves on; a delivery that expires or is released
// behind it must still be claimed before new tasks.
func TestAReleasedTaskBehindTheCursorIsStillClaimedFirst(t *testing.T) {
	lim := limits()
	lim.MaxAttempts = 5
	e := newEnv(t, lim)
	t1 := e.submit(t, tenant, `{"i":1}`)
	t2 := e.submit(t, tenant, `{"i":2}`)
	t3 := e.submit(t, tenant, `{"i":3}`)
	require.Len(t, e.claim(t, tenant, "w1", 3).Tasks, 3)
	e.advance(vis)
	require.Equal(t, []string{t1}, taskIDs(e.claim(t, tenant, "w2", 1).Tasks))
	require.Equal(t, []string{t2}, taskIDs(e.claim(t, tenant, "w3", 1).Tasks))
	require.NoError(t, e.q.Release(ctx, tenant, group, "w2", []string{t1}))
	t4 := e.submit(t, tenant, `{"i":4}`)
	assert.Equal(t, []string{t3, t1}, taskIDs(e.claim(t, tenant, "w4", 2).Tasks))
	assert.Equal(t, []string{t4}, taskIDs(e.claim(t, tenant, "w4", 2).Tasks))
}

func TestReleaseGivesTasksBackAtOnceAndForgetsAnIdleWorker(t *testing.T) {
	lim := limits()
	lim.Visibility = time.Hour
	e := newEnv(t, lim)
	a := e.submit(t, tenant, `{"i":"a"}`)
	b := e.submit(t, tenant, `{"i":"b"}`)
	require.Len(t, e.claim(t, tenant, "w1", 2).Tasks, 2)
	other := e.submit(t, tenant, `{"i":"other"}`)
	require.Len(t, e.claim(t, tenant, "w2", 1).Tasks, 1)

	require.NoError(t, e.q.Release(ctx, tenant, group, "w1", []string{a, other, "not-an-id", taskq.NewID()}))
	info, err := e.q.Get(ctx, tenant, a)
	require.NoError(t, err)
	assert.Equal(t, taskq.Info{ID: a, Group: group, State: taskq.StateQueued, Attempts: 1}, info)
	info, err = e.q.Get(ctx, tenant, other)
	require.NoError(t, err)
	assert.Equal(t, taskq.StateRunning, info.State, "a task of another worker is skipped")
	assert.Equal(t, []string{"w1", "w2"}, consumers(t, e), "w1 still holds b")

	c := e.claim(t, tenant, "w3", 1)
	require.Len(t, c.Tasks, 1, "the released task is claimable at once")
	assert.Equal(t, a, c.Tasks[0].ID)
	assert.Equal(t, 2, c.Tasks[0].Attempt, "attempts are kept")

	require.NoError(t, e.q.Release(ctx, tenant, group, "w1", []string{b}))
	assert.NotContains(t, consumers(t, e), "w1", "a worker holding nothing is forgotten")
	_, err = e.q.Complete(ctx, tenant, group, "w1", b, true, nil)
	assert.ErrorIs(t, err, taskq.ErrNotHeld)
	assert.Equal(t, []string{b}, taskIDs(e.claim(t, tenant, "w3", 5).Tasks))

	require.NoError(t, e.q.Release(ctx, tenant, group, "w9", nil), "a worker that never claimed")
	require.NoError(t, e.q.Release(ctx, tenant, "nogroup", "w1", []string{a}), "a group that never existed")
}

func consumers(t *testing.T, e *env) []string {
	t.Helper()
	cs, err := e.c.XInfoConsumers(ctx, e.q.StreamKey(tenant, group), "workers").Result()
	require.NoError(t, err)
	var out []string
	for _, c := range cs {
		if c.Name != "_released" {
			out = append(out, c.Name)
		}
	}
	return out
}

// Entries that are not tasks of this queue reach the stream only by hand
// or by another program; each must be dead-lettered once and never handed
// to a worker.
func TestACorruptEntryIsDeadLetteredOnceAndNeverDelivered(t *testing.T) {
	lim := limits()
	lim.MaxAttempts = 1
	e := newEnv(t, lim)
	stream := e.q.StreamKey(tenant, group)
	before := e.submit(t, tenant, `{"i":"before"}`)
	orphan := taskq.NewID()
	var bad []string
	for _, fields := range [][]string{
		{"foo", "bar"},
		{"task_id", taskq.NewID()},
		{"task_id", orphan, "body", `{"no":"record"}`},
		{"task_id", taskq.NewID(), "body", `[1,2]`},
		{"task_id", "TASK_bad", "body", `{}`},
		{"task_id", before, "body", `{"i":"duplicate"}`},
	} {
		id, err := e.mr.XAdd(stream, "*", fields)
		require.NoError(t, err)
		bad = append(bad, id)
	}
	after := e.submit(t, tenant, `{"i":"after"}`)

	c := e.claim(t, tenant, "w1", 10)
	assert.Equal(t, []string{before, after}, taskIDs(c.Tasks), "the good tasks are delivered around the bad entries")
	require.Len(t, c.Corrupt, len(bad))
	for i, cr := range c.Corrupt {
		assert.Equal(t, bad[i], cr.EntryID)
		assert.Equal(t, stream, cr.Stream)
		assert.NotEmpty(t, cr.Reason)
		assert.NoError(t, cr.Err)
	}
	dead, err := e.q.DeadLetters(ctx, tenant, group, 0)
	require.NoError(t, err)
	require.Len(t, dead, len(bad))
	for i, d := range dead {
		assert.Equal(t, taskq.DeadDecode, d.Reason)
		assert.Equal(t, bad[i], d.EntryID)
		assert.NotEmpty(t, d.Raw)
		assert.Equal(t, e.clock.Now(), d.At)
	}
	assert.Contains(t, dead[0].Raw, "foo")
	assert.Equal(t, orphan, dead[2].TaskID, "a well-formed task id is kept")
	assert.Empty(t, dead[4].TaskID)
	_, err = e.q.Get(ctx, tenant, orphan)
	assert.ErrorIs(t, err, taskq.ErrNotFound, "dead-lettering a foreign entry creates no task")

	info, err := e.q.Get(ctx, tenant, before)
	require.NoError(t, err)
	assert.Equal(t, taskq.StateRunning, info.State, "a duplicate entry does not touch the task it names")

	for _, id := range []string{before, after} {
		_, err := e.q.Complete(ctx, tenant, group, "w1", id, true, nil)
		require.NoError(t, err)
	}
	e.advance(2 * vis)
	c = e.claim(t, tenant, "w2", 10)
	assert.Empty(t, c.Tasks)
	assert.Empty(t, c.Corrupt, "a corrupt entry comes back never")
	assert.Empty(t, c.Dead)
	entries, err := e.mr.Stream(stream)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// The script hands out tasks whose body starts like an object; the queue
// checks the whole body before a worker sees it.
func TestATaskWhoseBodyIsBrokenDiesInsteadOfBeingDelivered(t *testing.T) {
	e := newEnv(t, limits())
	stream := e.q.StreamKey(tenant, group)
	good := e.submit(t, tenant, `{"i":1}`)
	id := taskq.NewID()
	entry, err := e.mr.XAdd(stream, "*", []string{"task_id", id, "body", `{"broken":`})
	require.NoError(t, err)
	require.NoError(t, e.c.HSet(ctx, e.taskKey(tenant, id), "state", "queued", "attempts", 0, "group", group, "entry", entry).Err())

	c := e.claim(t, tenant, "w1", 5)
	assert.Equal(t, []string{good}, taskIDs(c.Tasks))
	require.Len(t, c.Corrupt, 1)
	assert.Equal(t, entry, c.Corrupt[0].EntryID)
	require.NoError(t, c.Corrupt[0].Err)
	info, err := e.q.Get(ctx, tenant, id)
	require.NoError(t, err)
	assert.Equal(t, taskq.StateDead, info.State)
	assert.Equal(t, ttl, e.mr.TTL(e.taskKey(tenant, id)))
	dead, err := e.q.DeadLetters(ctx, tenant, group, 0)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, taskq.DeadLetter{TaskID: id, EntryID: entry, Reason: taskq.DeadDecode, Raw: dead[0].Raw, At: e.clock.Now()}, dead[0])
	assert.Contains(t, dead[0].Raw, `{\"broken\":`)
	_, err = e.q.Complete(ctx, tenant, group, "w1", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrNotHeld)
}

func TestARawFieldListIsClipped(t *testing.T) {
	e := newEnv(t, limits())
	stream := e.q.StreamKey(tenant, group)
	_, err := e.mr.XAdd(stream, "*", []string{"blob", strings.Repeat("x", 100_000)})
	require.NoError(t, err)
	require.NoError(t, e.c.XGroupCreate(ctx, stream, "workers", "0").Err())
	c := e.claim(t, tenant, "w1", 1)
	require.Len(t, c.Corrupt, 1)
	dead, err := e.q.DeadLetters(ctx, tenant, group, 0)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.LessOrEqual(t, len(dead[0].Raw), 4096)
	assert.True(t, strings.HasPrefix(dead[0].Raw, `["blob","xxx`))
}

func TestAForeignStreamWithoutTheGroupIsAdopted(t *testing.T) {
	e := newEnv(t, limits())
	_, err := e.mr.XAdd(e.q.StreamKey(tenant, group), "*", []string{"junk", "1"})
	require.NoError(t, err)
	c := e.claim(t, tenant, "w1", 1)
	require.Len(t, c.Corrupt, 1, "the group is created at 0, so earlier entries are met")
	id := e.submit(t, tenant, `{}`)
	assert.Equal(t, []string{id}, taskIDs(e.claim(t, tenant, "w1", 1).Tasks))
}

func TestTheDeadLetterListKeepsTheNewestQueueMax(t *testing.T) {
	lim := limits()
	lim.QueueMax = 2
	lim.MaxAttempts = 1
	e := newEnv(t, lim)
	var all []string
	for i := 0; i < 3; i++ {
		all = append(all, e.submit(t, tenant, `{}`))
		require.Len(t, e.claim(t, tenant, "w1", 1).Tasks, 1)
		e.advance(vis)
		require.Len(t, e.claim(t, tenant, "w1", 1).Dead, 1)
	}
	dead, err := e.q.DeadLetters(ctx, tenant, group, 0)
	require.NoError(t, err)
	assert.Equal(t, all[1:], deadTaskIDs(dead))
	dead, err = e.q.DeadLetters(ctx, tenant, group, 1)
	require.NoError(t, err)
	assert.Equal(t, all[1:2], deadTaskIDs(dead), "oldest first up to limit")
}

func deadTaskIDs(d []taskq.DeadLetter) []string {
	out := make([]string, 0, len(d))
	for _, x := range d {
		out = append(out, x.TaskID)
	}
	return out
}

func TestAnItemOfTheDeadLetterListThatDoesNotDecodeIsShownRaw(t *testing.T) {
	e := newEnv(t, limits())
	_, err := e.mr.Push(e.q.DeadKey(tenant, group), "not json")
	require.NoError(t, err)
	dead, err := e.q.DeadLetters(ctx, tenant, group, 0)
	require.NoError(t, err)
	assert.Equal(t, []taskq.DeadLetter{{Reason: taskq.DeadDecode, Raw: `["not json"]`}}, dead)
}

func TestTenantsNeverReachEachOther(t *testing.T) {
	e := newEnv(t, limits())
	evil := "a}:{b"
	assert.NotEqual(t, e.q.StreamKey("a", group), e.q.StreamKey(evil, group))
	assert.Equal(t, "arqonbus:{q:a%7D%3A%7Bb}:s:science", e.q.StreamKey(evil, group))
	assert.Equal(t, "arqonbus:{q:a}:d:x%3Ay", e.q.DeadKey("a", "x:y"))
	assert.NotEqual(t, e.q.StreamKey("a:b", "c"), e.q.StreamKey("a", "b:c"))

	id := e.submit(t, evil, `{"secret":1}`)
	_, err := e.q.Get(ctx, "a", id)
	assert.ErrorIs(t, err, taskq.ErrNotFound)
	assert.Empty(t, e.claim(t, "a", "w1", 5).Tasks)
	_, err = e.q.Complete(ctx, "a", group, "w1", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrNotHeld)
	c := e.claim(t, evil, "w1", 5)
	require.Equal(t, []string{id}, taskIDs(c.Tasks), "the task was there to be taken")
	require.NoError(t, e.q.Release(ctx, "a", group, "w1", []string{id}))
	info, err := e.q.Get(ctx, evil, id)
	require.NoError(t, err)
	assert.Equal(t, taskq.StateRunning, info.State, "a release in another tenant does not touch it")

	_, err = e.q.Get(ctx, tenant, "task_../../x")
	assert.ErrorIs(t, err, taskq.ErrNotFound)
}

// Every script touches the keys of one tenant only; they must hash to one
// Redis Cluster slot.
func TestEveryKeyOfATenantIsInOneSlot(t *testing.T) {
	lim := limits()
	lim.MaxAttempts = 1
	e := newEnv(t, lim)
	for _, tn := range []string{"acme", "", "a}:{b", "{x}"} {
		done := e.submit(t, tn, `{}`)
		e.submit(t, tn, `{}`)
		_, err := e.mr.XAdd(e.q.StreamKey(tn, group), "*", []string{"junk", "1"})
		require.NoError(t, err)
		c := e.claim(t, tn, "w1", 1)
		require.Len(t, c.Tasks, 1)
		_, err = e.q.Complete(ctx, tn, group, "w1", done, true, nil)
		require.NoError(t, err)
		require.Len(t, e.claim(t, tn, "w1", 5).Corrupt, 1)
		e.advance(vis)
		require.Len(t, e.claim(t, tn, "w1", 5).Dead, 1)
	}
	slots := map[string]map[int]bool{}
	kinds := map[string]bool{}
	for _, k := range e.mr.Keys() {
		tag := hashTag(k)
		require.True(t, strings.HasPrefix(tag, "q:"), "key %q has the tenant's tag", k)
		if slots[tag] == nil {
			slots[tag] = map[int]bool{}
		}
		slots[tag][slot(k)] = true
		kinds[k[strings.Index(k, "}:")+2:][:2]] = true
	}
	assert.Len(t, slots, 4, "one tag per tenant")
	for tag, s := range slots {
		assert.Len(t, s, 1, "the keys of %s are in one slot", tag)
	}
	assert.Equal(t, map[string]bool{"s:": true, "t:": true, "d:": true, "c:": true}, kinds, "every kind of key was made")
}

// hashTag is the part of a key Redis Cluster hashes: the text between the
// first '{' and the next '}' when it is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// slot is the Redis Cluster slot of key: CRC16-XMODEM of its hash tag mod
// 16384.
func slot(key string) int {
	var crc uint16
	for _, b := range []byte(hashTag(key)) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestSlotMatchesRedisClusterExamples(t *testing.T) {
	assert.Equal(t, 0x31C3, slot("123456789"), "the CRC16-XMODEM check value")
	assert.Equal(t, slot("{user1000}.following"), slot("{user1000}.followers"))
	assert.Equal(t, slot("foo"), slot("{foo}bar"))
}

func TestARedisFailureIsUnavailable(t *testing.T) {
	e := newEnv(t, limits())
	id := e.submit(t, tenant, `{}`)
	e.mr.SetError("LOADING Redis is loading")
	err := e.q.Submit(ctx, tenant, group, taskq.NewID(), []byte(`{}`))
	assert.ErrorIs(t, err, taskq.ErrUnavailable)
	assert.ErrorContains(t, err, "LOADING")
	_, err = e.q.Claim(ctx, tenant, group, "w1", 1)
	assert.ErrorIs(t, err, taskq.ErrUnavailable)
	_, err = e.q.Complete(ctx, tenant, group, "w1", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrUnavailable)
	assert.ErrorIs(t, e.q.Release(ctx, tenant, group, "w1", []string{id}), taskq.ErrUnavailable)
	_, err = e.q.Get(ctx, tenant, id)
	assert.ErrorIs(t, err, taskq.ErrUnavailable)
	_, err = e.q.DeadLetters(ctx, tenant, group, 0)
	assert.ErrorIs(t, err, taskq.ErrUnavailable)
	e.mr.SetError("")
	assert.Len(t, e.claim(t, tenant, "w1", 1).Tasks, 1, "answers again once Redis does")
}

func TestAnExpiredDeadlineIsUnavailable(t *testing.T) {
	e := newEnv(t, limits())
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	err := e.q.Submit(dctx, tenant, group, taskq.NewID(), []byte(`{}`))
	assert.ErrorIs(t, err, taskq.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestAFailedDeadLetterMoveIsReportedAndTheEntryMetAgain(t *testing.T) {
	e := newEnv(t, limits())
	stream := e.q.StreamKey(tenant, group)
	e.submit(t, tenant, `{}`)
	entry, err := e.mr.XAdd(stream, "*", []string{"junk", "1"})
	require.NoError(t, err)
	// Break the dead-letter list's type so the move fails.
	require.NoError(t, e.mr.Set(e.q.DeadKey(tenant, group), "not a list"))
	c := e.claim(t, tenant, "w1", 5)
	require.Len(t, c.Corrupt, 1)
	assert.Equal(t, entry, c.Corrupt[0].EntryID)
	assert.ErrorIs(t, c.Corrupt[0].Err, taskq.ErrUnavailable)
	assert.Len(t, c.Tasks, 1)

	e.mr.Del(e.q.DeadKey(tenant, group))
	e.advance(vis)
	c = e.claim(t, tenant, "w2", 5)
	require.Len(t, c.Corrupt, 1, "the entry stayed pending and is met once its delivery expires")
	assert.Equal(t, entry, c.Corrupt[0].EntryID)
	assert.NoError(t, c.Corrupt[0].Err)
}

func TestAClosedQueueRefusesEveryCall(t *testing.T) {
	e := newEnv(t, limits())
	id := e.submit(t, tenant, `{}`)
	require.NoError(t, e.q.Close())
	require.NoError(t, e.q.Close(), "Close is idempotent")
	err := e.q.Submit(ctx, tenant, group, taskq.NewID(), []byte(`{}`))
	assert.ErrorIs(t, err, taskq.ErrClosed)
	_, err = e.q.Claim(ctx, tenant, group, "w1", 1)
	assert.ErrorIs(t, err, taskq.ErrClosed)
	_, err = e.q.Complete(ctx, tenant, group, "w1", id, true, nil)
	assert.ErrorIs(t, err, taskq.ErrClosed)
	assert.ErrorIs(t, e.q.Release(ctx, tenant, group, "w1", nil), taskq.ErrClosed)
	_, err = e.q.Get(ctx, tenant, id)
	assert.ErrorIs(t, err, taskq.ErrClosed)
	_, err = e.q.DeadLetters(ctx, tenant, group, 0)
	assert.ErrorIs(t, err, taskq.ErrClosed)
	assert.NoError(t, e.c.Ping(ctx).Err(), "the client is the caller's")
}

func TestNewChecksItsOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	good := limits()
	for name, o := range map[string]redisq.Options{
		"no client":           {Limits: good},
		"a negative timeout":  {Client: c, Limits: good, Timeout: -1},
		"no attempts":         {Client: c, Limits: taskq.Limits{Visibility: vis, ResultTTL: ttl}},
		"no visibility":       {Client: c, Limits: taskq.Limits{MaxAttempts: 1, ResultTTL: ttl}},
		"no result TTL":       {Client: c, Limits: taskq.Limits{MaxAttempts: 1, Visibility: vis}},
		"a negative QueueMax": {Client: c, Limits: taskq.Limits{QueueMax: -1, MaxAttempts: 1, Visibility: vis, ResultTTL: ttl}},
	} {
		_, err := redisq.New(o)
		assert.Error(t, err, name)
	}
	q, err := redisq.New(redisq.Options{Client: c, Limits: good})
	require.NoError(t, err)
	assert.Equal(t, "arqonbus:{q:acme}:s:science", q.StreamKey("acme", "science"))
}

// A submit that reaches Redis after the node stopped waiting for it (Redis
// was stopped with the command in its socket, and ran it on resuming) must
// not store the task: the submitter was told STORAGE_UNAVAILABLE, and a
// refused task must never reach a worker. Redis's clock running past the
// call's deadline stands in for the late run.
func TestASubmitThatRunsAfterItsDeadlineStoresNothing(t *testing.T) {
	e := newEnv(t, limits())
	e.mr.SetTime(time.Now().Add(time.Minute)) // Redis runs the script a minute late
	id := taskq.NewID()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := e.q.Submit(cctx, "acme", group, id, []byte(`{"n":1}`))
	require.ErrorIs(t, err, taskq.ErrUnavailable)
	assert.Contains(t, err.Error(), "after its deadline")
	_, err = e.q.Get(ctx, "acme", id)
	require.ErrorIs(t, err, taskq.ErrNotFound, "a refused submit left a task behind")
	n, err := e.c.XLen(ctx, e.q.StreamKey("acme", group)).Result()
	if !errors.Is(err, redis.Nil) {
		require.NoError(t, err)
	}
	assert.Zero(t, n, "a refused submit reached the stream")

	e.mr.SetTime(time.Now())
	require.NoError(t, e.q.Submit(cctx, "acme", group, taskq.NewID(), []byte(`{"n":2}`)), "in time, the same submit stores")
}
