//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// A stored message is announced from the append script itself: on a real
// Redis the script counts the channel's subscribers against the node's own
// channel, stays silent while the node alone listens (no echo), and
// publishes once another node subscribes.
func TestTheAppendScriptAnnouncesToOtherNodesOnlyOnRealRedis(t *testing.T) {
	t.Parallel()
	srv := testutil.Redis(t)
	s := newRedisStore(t, redisstore.Options{})
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prefix := srv.Prefix(t)
	bus, self := prefix+"bus", prefix+"bus:node:a"
	listen := func(channels ...string) *redis.PubSub {
		sub := testutil.RedisClient(t, srv).Subscribe(ctx, channels...)
		t.Cleanup(func() { _ = sub.Close() })
		for range channels {
			_, err := sub.Receive(ctx) // the subscription's confirmation
			require.NoError(t, err)
		}
		return sub
	}
	key := store.Key{Tenant: "t", Room: uniq("announce"), Channel: "c"}
	announce := func(i int, body string) {
		announced, err := s.AppendAnnounce(ctx, key, storetest.Msg(key, i),
			store.Announcement{Channel: bus, Self: self, Body: []byte(body)})
		require.NoError(t, err)
		require.True(t, announced)
	}

	node := listen(bus, self)
	announce(1, "alone")
	other := listen(bus)
	announce(2, "shared")
	for _, sub := range []*redis.PubSub{node, other} {
		msg, err := sub.ReceiveMessage(ctx)
		require.NoError(t, err)
		assert.Equal(t, "shared", msg.Payload, "the first message heard is the one with another listener")
	}
	n, err := s.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "both stored")
}
