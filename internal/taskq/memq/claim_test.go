package memq_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/taskq"
)

// TestExpiredDeliveriesAreReclaimedOldestDeadlineFirst: among expired
// deliveries the one that expired first is handed out first, whatever the
// submission order.
func TestExpiredDeliveriesAreReclaimedOldestDeadlineFirst(t *testing.T) {
	q, clock := newQueue(taskq.Limits{MaxAttempts: 5, Visibility: time.Minute, ResultTTL: time.Hour})
	first, second := taskq.NewID(), taskq.NewID()
	require.NoError(t, q.Submit(ctx, "t", "g", first, []byte(`{}`)))
	require.NoError(t, q.Submit(ctx, "t", "g", second, []byte(`{}`)))
	_, err := q.Claim(ctx, "t", "g", "w1", 1) // first, deadline T+1m
	require.NoError(t, err)
	clock.Advance(time.Second)
	_, err = q.Claim(ctx, "t", "g", "w1", 1) // second, deadline T+1m1s
	require.NoError(t, err)
	require.NoError(t, q.Release(ctx, "t", "g", "w1", []string{second})) // now at T+1s
	clock.Advance(time.Hour)
	c, err := q.Claim(ctx, "t", "g", "w2", 2)
	require.NoError(t, err)
	var got []string
	for _, tk := range c.Tasks {
		got = append(got, tk.ID)
	}
	assert.Equal(t, []string{second, first}, got, "the release made second the oldest deadline")
}

// TestAReleasedLastAttemptIsDeadAtTheNextClaim: a release ends a delivery
// like an expiry does, so a task released on its last attempt is retired.
func TestAReleasedLastAttemptIsDeadAtTheNextClaim(t *testing.T) {
	q, _ := newQueue(taskq.Limits{MaxAttempts: 1, Visibility: time.Minute, ResultTTL: time.Hour})
	id := taskq.NewID()
	require.NoError(t, q.Submit(ctx, "t", "g", id, []byte(`{}`)))
	c, err := q.Claim(ctx, "t", "g", "w1", 1)
	require.NoError(t, err)
	require.Len(t, c.Tasks, 1)
	require.NoError(t, q.Release(ctx, "t", "g", "w1", []string{id}))
	c, err = q.Claim(ctx, "t", "g", "w2", 1)
	require.NoError(t, err)
	assert.Empty(t, c.Tasks)
	require.Len(t, c.Dead, 1)
	assert.Equal(t, id, c.Dead[0].TaskID)
	assert.Equal(t, 1, c.Dead[0].Attempts)
}

// TestTheQueueCopiesBodiesAndResults: the caller's slices are its own on
// the way in and out.
func TestTheQueueCopiesBodiesAndResults(t *testing.T) {
	q, _ := newQueue(taskq.Limits{MaxAttempts: 1, Visibility: time.Minute, ResultTTL: time.Hour})
	id := taskq.NewID()
	body := []byte(`{"a":1}`)
	require.NoError(t, q.Submit(ctx, "t", "g", id, body))
	body[2] = 'X'
	c, err := q.Claim(ctx, "t", "g", "w", 1)
	require.NoError(t, err)
	require.Len(t, c.Tasks, 1)
	assert.Equal(t, `{"a":1}`, string(c.Tasks[0].Body))
	result := []byte(`{"r":1}`)
	_, err = q.Complete(ctx, "t", "g", "w", id, true, result)
	require.NoError(t, err)
	result[2] = 'X'
	info, err := q.Get(ctx, "t", id)
	require.NoError(t, err)
	info.Result[2] = 'Y'
	info, err = q.Get(ctx, "t", id)
	require.NoError(t, err)
	assert.Equal(t, `{"r":1}`, string(info.Result))
}
