//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// redisTimeout is ARQONBUS_REDIS_TIMEOUT for the servers under fault: short,
// so that a paused Redis costs each call a fraction of a second.
const redisTimeout = 300 * time.Millisecond

// recoverWithin bounds how long a server takes to notice that Redis is back:
// the probe's backoff reaches 5 s at most, plus a restart.
const recoverWithin = 15 * time.Second

// startOn starts an in-process server whose storage is the Redis srv in the
// given mode, with redisTimeout.
func startOn(t *testing.T, srv *redistest.RedisServer, mode string, opts ...testutil.Option) *testutil.Server {
	t.Helper()
	opts = append([]testutil.Option{
		testutil.WithRedis(srv.URL(), mode),
		testutil.WithConfig(func(c *config.Config) { c.RedisTimeout = redisTimeout }),
	}, opts...)
	return testutil.StartServer(t, opts...)
}

// durable makes srv save its data when it stops, and load it when it starts
// again. The test harness runs Redis without persistence (a stopped Redis
// comes back empty), which would make "an acknowledged message is always in
// history" untestable across a restart; a production Redis is configured to
// keep its data. The setting is not in the server's arguments, so Start puts
// it back after every restart.
type durable struct{ *redistest.RedisServer }

func makeDurable(t *testing.T, srv *redistest.RedisServer) durable {
	t.Helper()
	d := durable{srv}
	d.configure(t)
	return d
}

// Start starts the stopped server with its data and makes it durable again.
func (d durable) Start(t *testing.T) {
	t.Helper()
	d.RedisServer.Start(t)
	d.configure(t)
}

func (d durable) configure(t *testing.T) {
	t.Helper()
	c := redistest.RedisClient(t, d.RedisServer)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A save point makes a SIGTERM'd redis-server write its RDB file before
	// exiting; at start it loads that file whatever its own save points.
	if err := c.ConfigSet(ctx, "save", "3600 1").Err(); err != nil {
		t.Fatalf("make redis durable: %v", err)
	}
}

var nameSeq atomic.Int64

// uniq returns a room or channel name no other test uses, so that tests
// sharing one Redis (and one broker channel) never see each other.
func uniq(base string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", base, nameSeq.Add(1), hex.EncodeToString(b))
}

// readiness is the /readyz body.
type readiness struct {
	Status   string `json:"status"`
	Storage  string `json:"storage"`
	Draining bool   `json:"draining"`
}

// waitReadyz waits until /readyz answers code with the given storage state.
func waitReadyz(t testing.TB, s *testutil.Server, code int, storage string, within time.Duration) {
	t.Helper()
	var last string
	testutil.Eventually(t, func() bool {
		c, body := s.Get(t, "/readyz")
		last = fmt.Sprintf("%d %s", c, strings.TrimSpace(body))
		var r readiness
		return c == code && json.Unmarshal([]byte(body), &r) == nil && r.Storage == storage
	}, within, "/readyz %d with storage %q (last: %s)", code, storage, lazy(func() string { return last }))
}

// lazy formats as its function's result at the time it is printed.
type lazy func() string

func (l lazy) String() string { return l() }

// livez asserts the process still serves.
func livez(t testing.TB, s *testutil.Server) {
	t.Helper()
	code, body := s.Get(t, "/livez")
	if code != http.StatusOK {
		t.Errorf("/livez: %d %s", code, body)
	}
}

// stateChanges counts the storage state-change lines in a server log that
// went to the given state.
func stateChanges(log, to string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, `msg="storage state changed"`) && strings.Contains(line, " to="+to+" ") {
			if !strings.Contains(line, "level=WARN") {
				continue
			}
			n++
		}
	}
	return n
}

// publish sends a message with the given id and returns its one reply.
func publish(ctx context.Context, c *client.Client, room, channel, id string, n int) (*protocol.Envelope, error) {
	return c.Request(ctx, &protocol.Envelope{
		ID: id, Type: protocol.TypeMessage, Room: room, Channel: channel,
		Payload: protocol.Object(map[string]any{"n": n}),
	})
}

// ack decodes a message_response payload.
func ack(t testing.TB, r *protocol.Envelope) client.Ack {
	t.Helper()
	if r.Type != protocol.TypeMessageResponse {
		t.Fatalf("want a message_response, got %s", protocol.Encode(r))
	}
	var a client.Ack
	if err := json.Unmarshal(r.Payload, &a); err != nil {
		t.Fatalf("ack payload %s: %v", r.Payload, err)
	}
	return a
}

// historyPage runs the history command.
func historyPage(t testing.TB, c *client.Client, room, channel string, limit int) (ids []string, complete bool) {
	t.Helper()
	data := testutil.Command(t, c, "history", map[string]any{"room": room, "channel": channel, "limit": limit})
	msgs, _ := data["messages"].([]any)
	for _, m := range msgs {
		id, _ := m.(map[string]any)["id"].(string)
		ids = append(ids, id)
	}
	complete, ok := data["complete"].(bool)
	if !ok {
		t.Fatalf("history answer without complete: %v", data)
	}
	return ids, complete
}

// streamMessageIDs reads every stream whose key matches pattern with XRANGE
// and returns the message ids stored in them, with how often each appears.
func streamMessageIDs(t testing.TB, rc *redis.Client, pattern string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := map[string]int{}
	for _, key := range scanKeys(t, rc, pattern) {
		if !strings.HasSuffix(key, ":stream") {
			continue
		}
		entries, err := rc.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			t.Fatalf("XRANGE %s: %v", key, err)
		}
		for _, e := range entries {
			id, _ := e.Values["id"].(string)
			ids[id]++
		}
	}
	return ids
}

// scanKeys lists the keys matching pattern.
func scanKeys(t testing.TB, rc *redis.Client, pattern string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	it := rc.Scan(ctx, 0, pattern, 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("SCAN %s: %v", pattern, err)
	}
	return keys
}

// globEscape escapes a literal for a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
