package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// subscribe returns a subscription to channels once Redis has confirmed it.
func subscribe(t *testing.T, mr *miniredis.Miniredis, channels ...string) *redis.PubSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub := client(t, mr).Subscribe(ctx, channels...)
	t.Cleanup(func() { _ = sub.Close() })
	for range channels {
		msg, err := sub.Receive(ctx)
		require.NoError(t, err)
		require.IsType(t, &redis.Subscription{}, msg)
	}
	return sub
}

func nextMessage(t *testing.T, sub *redis.PubSub) *redis.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := sub.ReceiveMessage(ctx)
	require.NoError(t, err)
	return msg
}

// The append script publishes the announcement after storing the message,
// in the same step, when another subscriber listens.
func TestAppendAnnouncePublishesWhatItStoredWhenAnotherNodeListens(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{})
	subscribe(t, mr, "bus", "bus:node:a") // this node
	other := subscribe(t, mr, "bus")      // another node

	ctx := context.Background()
	env := storetest.Msg(key, 1)
	announced, err := s.AppendAnnounce(ctx, key, env,
		store.Announcement{Channel: "bus", Self: "bus:node:a", Body: []byte(`{"n":"a","f":{}}`)})
	require.NoError(t, err)
	assert.True(t, announced)
	msg := nextMessage(t, other)
	assert.Equal(t, "bus", msg.Channel)
	assert.Equal(t, `{"n":"a","f":{}}`, msg.Payload)
	page, err := s.History(ctx, key, store.Query{Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, []string{env.ID}, storetest.IDs(page.Messages))
}

// With no subscriber but the appending node itself, the script does not
// publish: the node would only hear its own echo. Without Self (Redis
// Cluster, where counts are per shard) it publishes regardless. A plain
// Append publishes nothing.
func TestAppendAnnounceSkipsTheEchoWhenOnlyThisNodeListens(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{})
	self := subscribe(t, mr, "bus", "bus:node:a")

	ctx := context.Background()
	require.NoError(t, s.Append(ctx, key, storetest.Msg(key, 1)))
	announced, err := s.AppendAnnounce(ctx, key, storetest.Msg(key, 2),
		store.Announcement{Channel: "bus", Self: "bus:node:a", Body: []byte("echo")})
	require.NoError(t, err)
	assert.True(t, announced, "stored, and announced to whoever listens: no one else")
	_, err = s.AppendAnnounce(ctx, key, storetest.Msg(key, 3),
		store.Announcement{Channel: "bus", Body: []byte("regardless")})
	require.NoError(t, err)
	msg := nextMessage(t, self)
	assert.Equal(t, "regardless", msg.Payload, "the first message published is the one without Self")
	n, err := s.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
}
