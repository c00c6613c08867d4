//go:build integration

package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// collidingKeys are pairs of keys that one naive "tenant:room:channel" string
// would merge.
var collidingKeys = []store.Key{
	{Tenant: "t", Room: "a:b", Channel: "c"},
	{Tenant: "t", Room: "a", Channel: "b:c"},
	{Tenant: "x", Room: ":r", Channel: "c"},
	{Tenant: "x:", Room: "r", Channel: "c"},
	{Tenant: "x", Room: "r", Channel: "c"},
	{Tenant: "", Room: "x:r", Channel: "c"},
	{Tenant: "%3A", Room: "r", Channel: "c"},
	{Tenant: ":", Room: "r", Channel: "c"},
	{Tenant: "{x}", Room: "r", Channel: "c"},
	{Tenant: "x", Room: "r}", Channel: "{c"},
}

func TestKeysThatAJoinedStringWouldMergeGetStreamsOfTheirOwnInRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	prefix := srv.Prefix(t)
	s := newRedisStore(t, redisstore.Options{KeyPrefix: prefix})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	for i, k := range collidingKeys {
		m := storetest.Msg(k, i)
		m.ID = fmt.Sprintf("key%02d", i)
		require.NoError(t, s.Append(ctx, k, m))
	}

	rc := redistest.RedisClient(t, srv)
	keys := scanKeys(t, rc, globEscape(prefix)+"*")
	sort.Strings(keys)
	require.Len(t, keys, 3*len(collidingKeys), "one stream, index and order key per (tenant, room, channel): %q", keys)
	streams := 0
	for _, key := range keys {
		rest := strings.TrimPrefix(key, prefix)
		assert.Equal(t, 1, strings.Count(rest, "{"), "one hash tag opening in %q", key)
		assert.Equal(t, 1, strings.Count(rest, "}"), "one hash tag closing in %q", key)
		assert.Equal(t, 2, strings.Count(rest[:strings.Index(rest, "}")], ":"),
			"inside the hash tag ':' only separates the three parts: %q", key)
		if strings.HasSuffix(key, ":stream") {
			streams++
			entries, err := rc.XRange(ctx, key, "-", "+").Result()
			require.NoError(t, err)
			assert.Len(t, entries, 1, "stream %q holds one message", key)
		}
	}
	assert.Equal(t, len(collidingKeys), streams)

	for i, k := range collidingKeys {
		p, err := s.History(ctx, k, store.Query{Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprintf("key%02d", i)}, storetest.IDs(p.Messages), "history of %q", k)
	}
}

func TestRoomsAndChannelsThatJoinToTheSameStringStayApartThroughTheServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	s := testutil.StartServer(t, testutil.WithRedis(srv.URL(), config.ModeStrict))
	c := testutil.Dial(t, s)
	base := uniq("esc")
	pairs := [][2]string{{base + ":b", "c"}, {base, "b:c"}}
	for i, p := range pairs {
		r, err := publish(testutil.Ctx(t), c, p[0], p[1], fmt.Sprintf("pair%d", i), i)
		require.NoError(t, err)
		assert.True(t, ack(t, r).Persisted)
	}
	for i, p := range pairs {
		ids, complete := historyPage(t, c, p[0], p[1], 50)
		assert.Equal(t, []string{fmt.Sprintf("pair%d", i)}, ids, "history of room %q channel %q", p[0], p[1])
		assert.True(t, complete)
	}
	keys := scanKeys(t, redistest.RedisClient(t, srv), "arqonbus:*"+globEscape(base)+"*")
	assert.Len(t, keys, 6, "two streams with their index and order keys: %q", keys)
}

func TestApproximateMaxlenKeepsBetweenMaxlenAndOneNodeMoreAndTrimsTheIdIndexAlongside(t *testing.T) {
	t.Parallel()
	const maxLen, total = 100, 1037
	srv := redistest.Redis(t)
	prefix := srv.Prefix(t)
	s := newRedisStore(t, redisstore.Options{KeyPrefix: prefix, MaxLen: maxLen})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	k := store.Key{Tenant: "acme", Room: "trim", Channel: "main"}
	rc := redistest.RedisClient(t, srv)
	node, err := rc.ConfigGet(ctx, "stream-node-max-entries").Result()
	require.NoError(t, err)
	var nodeEntries int64
	_, err = fmt.Sscan(node["stream-node-max-entries"], &nodeEntries)
	require.NoError(t, err)

	for i := range total {
		require.NoError(t, s.Append(ctx, k, storetest.Msg(k, i)))
	}

	base := prefix + "{acme:trim:main}"
	n, err := rc.XLen(ctx, base+":stream").Result()
	require.NoError(t, err)
	// XADD MAXLEN ~ removes whole macro nodes only, and only while at least
	// maxLen entries remain: the oldest remaining node (at most
	// stream-node-max-entries entries) is what may be kept beyond maxLen.
	assert.GreaterOrEqual(t, n, int64(maxLen), "never fewer than MAXLEN entries")
	assert.Less(t, n, int64(maxLen)+nodeEntries, "at most one node beyond MAXLEN")
	t.Logf("%d appends with MAXLEN ~ %d kept %d entries (stream-node-max-entries %d)", total, maxLen, n, nodeEntries)
	count, err := s.Count(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, n, count, "Count is the stream length")

	entries, err := rc.XRange(ctx, base+":stream", "-", "+").Result()
	require.NoError(t, err)
	want := map[string]string{} // message id -> entry id
	var kept []string
	for _, e := range entries {
		id, _ := e.Values["id"].(string)
		want[id] = e.ID
		kept = append(kept, id)
	}
	assert.Equal(t, storetest.Msg(k, total-1).ID, kept[len(kept)-1], "the newest message is kept")
	assert.Equal(t, storetest.Msg(k, total-len(kept)).ID, kept[0], "the oldest messages went first")

	index, err := rc.HGetAll(ctx, base+":index").Result()
	require.NoError(t, err)
	assert.Equal(t, want, index, "the index holds exactly the kept messages, each pointing at its entry")
	order, err := rc.LRange(ctx, base+":order", 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, order, len(entries), "the order list follows the stream")
	for i, e := range entries {
		assert.Equal(t, e.ID+" "+kept[i], order[i])
	}

	p, err := s.History(ctx, k, store.Query{Limit: 50, SinceID: storetest.Msg(k, 0).ID})
	require.NoError(t, err)
	assert.False(t, p.Complete, "a since id that was trimmed cannot prove the range")
	assert.Equal(t, kept[len(kept)-50:], storetest.IDs(p.Messages))
	p, err = s.History(ctx, k, store.Query{Limit: 50, BeforeID: storetest.Msg(k, 0).ID})
	require.NoError(t, err)
	assert.Empty(t, p.Messages)
	assert.False(t, p.Complete)
}

func TestHistoryTTLPutsAnExpiryOnEveryKeyOfAStreamAndRefreshesIt(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Minute
	srv := redistest.Redis(t)
	prefix := srv.Prefix(t)
	s := newRedisStore(t, redisstore.Options{KeyPrefix: prefix, TTL: ttl})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	k := store.Key{Tenant: "acme", Room: "ttl", Channel: "main"}
	require.NoError(t, s.Append(ctx, k, storetest.Msg(k, 0)))

	rc := redistest.RedisClient(t, srv)
	keys := scanKeys(t, rc, globEscape(prefix)+"*")
	require.Len(t, keys, 3)
	for _, key := range keys {
		pttl, err := rc.PTTL(ctx, key).Result()
		require.NoError(t, err)
		assert.Greater(t, pttl, time.Duration(0), "%s expires", key)
		assert.LessOrEqual(t, pttl, ttl, "%s expires within the TTL", key)
		require.NoError(t, rc.PExpire(ctx, key, time.Second).Err())
	}
	require.NoError(t, s.Append(ctx, k, storetest.Msg(k, 1)))
	for _, key := range keys {
		pttl, err := rc.PTTL(ctx, key).Result()
		require.NoError(t, err)
		assert.Greater(t, pttl, time.Second, "an append renews the expiry of %s", key)
	}
}

func TestAStreamWithATTLIsGoneOnceItExpires(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	prefix := srv.Prefix(t)
	s := newRedisStore(t, redisstore.Options{KeyPrefix: prefix, TTL: 200 * time.Millisecond})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	k := store.Key{Tenant: "acme", Room: "gone", Channel: "main"}
	require.NoError(t, s.Append(ctx, k, storetest.Msg(k, 0)))
	rc := redistest.RedisClient(t, srv)
	testutil.Eventually(t, func() bool { return len(scanKeys(t, rc, globEscape(prefix)+"*")) == 0 },
		5*time.Second, "every key of the stream expired")
	p, err := s.History(ctx, k, store.Query{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, p.Messages)
	assert.True(t, p.Complete)
}

func TestTheHistoryTTLVariableReachesRedisThroughTheServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	loaded, err := config.LoadEnviron([]string{
		"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_REDIS_URL=" + srv.URL(), "ARQONBUS_HISTORY_TTL=90s",
	}, nil)
	require.NoError(t, err)
	require.Equal(t, 90*time.Second, loaded.HistoryTTL)
	withTTL := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.StorageBackend, c.RedisURL, c.HistoryTTL = loaded.StorageBackend, loaded.RedisURL, loaded.HistoryTTL
	}))
	byDefault := testutil.StartServer(t, testutil.WithRedis(srv.URL(), config.ModeDegraded))
	without := testutil.StartServer(t, testutil.WithRedis(srv.URL(), config.ModeDegraded),
		testutil.WithConfig(func(c *config.Config) { c.HistoryTTL = 0 }))

	rc := redistest.RedisClient(t, srv)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		server *testutil.Server
		check  func(t *testing.T, key string, pttl time.Duration)
	}{
		{"with ARQONBUS_HISTORY_TTL=90s", withTTL, func(t *testing.T, key string, pttl time.Duration) {
			assert.Greater(t, pttl, time.Duration(0), "%s expires", key)
			assert.LessOrEqual(t, pttl, 90*time.Second, "%s expires within the TTL", key)
		}},
		{"by default (24h)", byDefault, func(t *testing.T, key string, pttl time.Duration) {
			assert.Greater(t, pttl, 23*time.Hour, "%s expires a day after its last message", key)
			assert.LessOrEqual(t, pttl, 24*time.Hour, "%s expires within the default TTL", key)
		}},
		{"with ARQONBUS_HISTORY_TTL=0", without, func(t *testing.T, key string, pttl time.Duration) {
			assert.Equal(t, time.Duration(-1), pttl, "%s never expires", key)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			room := uniq("ttl")
			cl := testutil.Dial(t, c.server)
			r, err := publish(testutil.Ctx(t), cl, room, "main", "ttl-1", 1)
			require.NoError(t, err)
			require.True(t, ack(t, r).Persisted)
			keys := scanKeys(t, rc, "arqonbus:*"+globEscape(room)+"*")
			require.Len(t, keys, 3, "stream, index and order keys: %q", keys)
			for _, key := range keys {
				pttl, err := rc.PTTL(ctx, key).Result()
				require.NoError(t, err)
				c.check(t, key, pttl)
			}
		})
	}
}
