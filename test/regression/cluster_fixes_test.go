package regression

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestRegression_AnIdleStrictNodeTurnsUnreadyWhenRedisStops: the storage
// policy only looked at Redis after a failed call, so a strict node that
// nobody published to kept answering /readyz 200 "ok" while Redis was down,
// and a load balancer kept sending it clients whose every message would be
// refused. A healthy primary is now pinged every second (SPEC §8).
func TestRegression_AnIdleStrictNodeTurnsUnreadyWhenRedisStops(t *testing.T) {
	mr := redistest.MiniRedis(t)
	s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict),
		testutil.WithConfig(func(c *config.Config) { c.RedisTimeout = 300 * time.Millisecond }))
	mr.Close()
	testutil.Eventually(t, func() bool {
		code, body := s.Get(t, "/readyz")
		return code == http.StatusServiceUnavailable && body == `{"draining":false,"status":"not_ready","storage":"down"}`+"\n"
	}, 3*time.Second, "readyz 503 without any publish")
}

// TestRegression_DirectMessagesFindClientsOnOtherNodesAfterRedisLosesItsData:
// a client's presence was written to Redis only when it connected, so after
// Redis came back empty (a restart without persistence, a failover) every
// client already connected was NOT_FOUND for direct messages from other
// nodes until it reconnected. A node now announces its clients again when
// its heartbeat finds its liveness key gone.
func TestRegression_DirectMessagesFindClientsOnOtherNodesAfterRedisLosesItsData(t *testing.T) {
	mr := redistest.MiniRedis(t)
	url := "redis://" + mr.Addr()
	a := testutil.StartServer(t, testutil.WithRedis(url, config.ModeDegraded))
	b := testutil.StartServer(t, testutil.WithRedis(url, config.ModeDegraded))
	sender, target := testutil.Dial(t, a), testutil.Dial(t, b)
	dm := func() *protocol.Envelope {
		return testutil.Request(t, sender, &protocol.Envelope{Type: "message", ToClient: target.ID(), Payload: json.RawMessage(`{}`)})
	}
	testutil.Eventually(t, func() bool { return dm().Type == protocol.TypeMessageResponse }, 5*time.Second, "presence across nodes")
	testutil.Expect(t, target)

	mr.FlushAll()
	require.Equal(t, string(protocol.CodeNotFound), dm().ErrorCode, "control: the data is really gone")
	testutil.Eventually(t, func() bool { return dm().Type == protocol.TypeMessageResponse }, 10*time.Second,
		"the target is reachable again without reconnecting")
	assert.Equal(t, target.ID(), testutil.Expect(t, target).ToClient)
}

// TestRegression_RedisCommandsAreNotRetriedWhileRedisIsDown: go-redis
// retries a failed command three times by default, reconnecting each time,
// so with Redis stopped every strict write took ~150 ms to be refused and
// messages piled up behind the refusals. Clients are built without command
// retries (the URL's max_retries still overrides it): a refusal is prompt
// and the storage policy's probe is what retries.
func TestRegression_RedisCommandsAreNotRetriedWhileRedisIsDown(t *testing.T) {
	// go-redis turns "no retries" (-1) into 0 when it builds the client,
	// and an unset value into its default of 3.
	for url, want := range map[string]int{
		"redis://127.0.0.1:6379/0":               0,
		"redis://127.0.0.1:6379/0?max_retries=2": 2,
	} {
		c, err := redisstore.NewClient(url, time.Second)
		require.NoError(t, err)
		single, ok := c.(*redis.Client)
		require.True(t, ok, "a plain URL gives a single-node client")
		assert.Equal(t, want, single.Options().MaxRetries, url)
		require.NoError(t, c.Close())
	}
}
