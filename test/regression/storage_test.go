package regression

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// payloadNs returns the "n" field of each history message's payload.
func payloadNs(t *testing.T, data map[string]any) []float64 {
	t.Helper()
	msgs, ok := data["messages"].([]any)
	require.True(t, ok, "history data %v", data)
	ns := []float64{}
	for _, m := range msgs {
		n, _ := field(m.(map[string]any), "payload", "n").(float64)
		ns = append(ns, n)
	}
	return ns
}

// In strict mode the Python server delivered a message even when storing it
// failed, so subscribers acted on messages that history would never show.
// Now a failed write answers the sender STORAGE_UNAVAILABLE under its
// message id and the message reaches nobody and is not in history
// (SPEC §4, §7).
func TestRegression_StrictStorageWriteFailureIsNotDelivered(t *testing.T) {
	mr := redistest.MiniRedis(t)
	s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict))
	pub, sub := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, sub, "orders", "paid")

	ack := testutil.Publish(t, pub, "orders", "paid", map[string]int{"n": 1})
	require.Equal(t, 1, ack.Delivered, "control: a stored message is delivered")
	require.True(t, ack.Persisted)
	testutil.Expect(t, sub)
	delivered := s.Counter(t, "messages_delivered_total")

	mr.SetError("ERR injected write failure")
	r := testutil.Request(t, pub, &protocol.Envelope{ID: "refused_001", Type: protocol.TypeMessage,
		Room: "orders", Channel: "paid", Payload: json.RawMessage(`{"n":2}`)})
	assert.Equal(t, protocol.TypeError, r.Type, "reply %s", protocol.Encode(r))
	assert.Equal(t, string(protocol.CodeStorageUnavailable), r.ErrorCode)
	assert.Equal(t, "refused_001", r.RequestID, "the error names the refused message")
	testutil.ExpectNone(t, sub, quiet)
	assert.Equal(t, delivered, s.Counter(t, "messages_delivered_total"), "nothing was delivered")

	mr.SetError("")
	testutil.Eventually(t, func() bool { code, _ := s.Get(t, "/readyz"); return code == http.StatusOK },
		10*time.Second, "storage back")
	testutil.Publish(t, pub, "orders", "paid", map[string]int{"n": 3})
	got := testutil.Expect(t, sub)
	assert.JSONEq(t, `{"n":3}`, string(got.Payload), "the next delivery is the next stored message, not the refused one")
	h := testutil.Command(t, pub, "history", map[string]any{"room": "orders", "channel": "paid"})
	assert.Equal(t, []float64{1, 3}, payloadNs(t, h), "the refused message is not in history")
}

// In degraded mode the Python server refused to start when Redis was down,
// turning a cache outage into a full outage. Now the entry point starts on
// the memory fallback and says so everywhere an operator looks: /readyz
// (200, storage degraded), /status, the status command, the
// arqonbus_storage_degraded gauge, the fallback-writes counter and a WARN
// log line (SPEC §7, §8).
func TestRegression_DegradedModeStartsWithRedisDownAndShowsIt(t *testing.T) {
	p := startApp(t, []string{
		"ARQONBUS_SERVER_HOST=127.0.0.1", "ARQONBUS_SERVER_PORT=0",
		"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=degraded",
		"ARQONBUS_REDIS_URL=" + deadRedisURL(t, ""), "ARQONBUS_REDIS_TIMEOUT=300ms",
	}, "serve")

	code, body := p.get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code, "degraded storage is usable: %s", body)
	assert.JSONEq(t, `{"status":"ready","storage":"degraded","draining":false}`, body)

	c := testutil.DialURL(t, "ws://"+p.Addr+"/ws")
	ack := testutil.Publish(t, c, "r", "c", map[string]int{"n": 1})
	assert.True(t, ack.Persisted, "the memory fallback stored the message")

	st := testutil.Command(t, c, "status", nil)
	for k, want := range map[string]any{"backend": "redis", "mode": "degraded", "state": "degraded", "degraded": true} {
		assert.Equal(t, want, field(st, "storage", k), "status command: storage.%s", k)
	}
	assert.NotEmpty(t, field(st, "storage", "last_error"), "status says why")

	code, body = p.get(t, "/status")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, true, field(obj(t, []byte(body)), "storage", "degraded"), "/status: %s", body)
	assert.Equal(t, "degraded", field(obj(t, []byte(body)), "storage", "state"), "/status: %s", body)

	_, body = p.get(t, "/metrics")
	metrics := testutil.ParseExposition(t, body)
	assert.Equal(t, 1.0, metrics.Get(t, "storage_degraded"))
	assert.GreaterOrEqual(t, metrics.Get(t, "storage_fallback_writes_total"), 1.0)

	assert.Contains(t, p.stderr.String(), "storage state changed", "one WARN line tells the operator")
	assert.Equal(t, 1, strings.Count(p.stderr.String(), "storage state changed"), "one line per state change")
}

// The Python server's health check stayed green while strict storage was
// failing, so load balancers kept sending traffic to a node that refused
// every message. Now /readyz answers 503 with storage "down" within 2 s of
// the first failure and until Redis answers again, while /livez stays 200
// (SPEC §7, §8).
func TestRegression_ReadyzIsUnavailableWhileStrictStorageIsDown(t *testing.T) {
	mr := redistest.MiniRedis(t)
	s := testutil.StartServer(t, testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict))
	c := testutil.Dial(t, s)
	code, body := s.Get(t, "/readyz")
	require.Equal(t, http.StatusOK, code, "control: ready while Redis answers: %s", body)

	mr.SetError("ERR injected outage")
	_, err := c.Publish(testutil.Ctx(t), "r", "c", map[string]int{"n": 1})
	require.Equal(t, protocol.CodeStorageUnavailable, protocol.AsWire(err).Code, "the failure: %v", err)
	testutil.Eventually(t, func() bool { code, _ := s.Get(t, "/readyz"); return code == http.StatusServiceUnavailable },
		2*time.Second, "/readyz 503 within 2s of the first failure")
	_, body = s.Get(t, "/readyz")
	assert.JSONEq(t, `{"status":"not_ready","storage":"down","draining":false}`, body)
	assert.Equal(t, "down", field(testutil.Command(t, c, "status", nil), "storage", "state"))

	// It stays unready while Redis keeps failing (the probe keeps asking),
	// and the process itself is alive.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
		code, body := s.Get(t, "/readyz")
		require.Equal(t, http.StatusServiceUnavailable, code, "still down: %s", body)
	}
	code, _ = s.Get(t, "/livez")
	assert.Equal(t, http.StatusOK, code, "liveness is not readiness")

	mr.SetError("")
	testutil.Eventually(t, func() bool { code, _ := s.Get(t, "/readyz"); return code == http.StatusOK },
		10*time.Second, "/readyz back to 200 once Redis answers")
	_, body = s.Get(t, "/readyz")
	assert.JSONEq(t, `{"status":"ready","storage":"ok","draining":false}`, body)
}

// The Python store joined tenant, room and channel with ':' into one Redis
// key, so (a:b, c) and (a, b:c) shared a stream and read each other's
// history. Now each part is escaped before the key is built: every distinct
// (tenant, room, channel) has its own stream (SPEC §7).
func TestRegression_RedisKeysOfDifferentPairsNeverCollide(t *testing.T) {
	mr := redistest.MiniRedis(t)
	rs, err := redisstore.New(redisstore.Options{URL: "redis://" + mr.Addr(), Timeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rs.Close() })
	ctx := context.Background()

	keys := []store.Key{
		{Tenant: "t", Room: "a:b", Channel: "c"},
		{Tenant: "t", Room: "a", Channel: "b:c"},
		{Tenant: "t:a", Room: "b", Channel: "c"},
		{Tenant: "", Room: "t:a:b", Channel: "c"},
		{Tenant: "t", Room: "a%3Ab", Channel: "c"}, // the escaped form of "a:b", written literally
		{Tenant: "t", Room: "a}{b", Channel: "c"},  // would break the cluster hash tag
		{Tenant: "t", Room: "a", Channel: "b%3Ac"},
	}
	now := time.Now().UTC()
	for i, k := range keys {
		env := &protocol.Envelope{ID: fmt.Sprintf("m%d", i), Type: protocol.TypeMessage, Version: protocol.Version,
			Timestamp: now, Room: k.Room, Channel: k.Channel, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		require.NoError(t, rs.Append(ctx, k, env), "append to %+v", k)
	}
	for i, k := range keys {
		page, err := rs.History(ctx, k, store.Query{Limit: 10})
		require.NoError(t, err)
		require.Len(t, page.Messages, 1, "%+v holds only its own message", k)
		assert.Equal(t, fmt.Sprintf("m%d", i), page.Messages[0].ID, "%+v", k)
		n, err := rs.Count(ctx, k)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "%+v", k)
	}
	var streams []string
	for _, k := range mr.Keys() {
		if strings.HasSuffix(k, ":stream") {
			streams = append(streams, k)
		}
	}
	assert.Len(t, streams, len(keys), "one stream per pair: %q", streams)
}

// The Python history command returned the oldest N messages, and with
// Redis it read a key that the writer never wrote, so history was either
// stale or empty. Now history answers the newest `limit` messages, oldest
// first, read from the very stream the publish path wrote: a second node
// with an empty memory sees the same page (SPEC §4, §7).
func TestRegression_HistoryReturnsTheNewestMessagesFromTheStreamItWrote(t *testing.T) {
	publishTen := func(t *testing.T, c *client.Client) {
		for i := range 10 {
			testutil.Publish(t, c, "lab", "results", map[string]int{"n": i})
		}
	}
	history := func(t *testing.T, c *client.Client, args map[string]any) []float64 {
		args["room"], args["channel"] = "lab", "results"
		return payloadNs(t, testutil.Command(t, c, "history", args))
	}

	t.Run("memory", func(t *testing.T) {
		s := testutil.StartServer(t)
		c := testutil.Dial(t, s)
		publishTen(t, c)
		assert.Equal(t, []float64{7, 8, 9}, history(t, c, map[string]any{"limit": 3}))
		assert.Equal(t, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, history(t, c, map[string]any{}))
	})

	t.Run("redis", func(t *testing.T) {
		mr := redistest.MiniRedis(t)
		opts := []testutil.Option{testutil.WithRedis("redis://"+mr.Addr(), config.ModeStrict), testutil.WithAuth(secret)}
		writer := testutil.StartServer(t, opts...)
		acme := client.Options{Token: testutil.Token(t, secret, testutil.Claims("alice", "acme", "user"))}
		c := testutil.Dial(t, writer, acme)
		publishTen(t, c)
		assert.Equal(t, []float64{7, 8, 9}, history(t, c, map[string]any{"limit": 3}))
		assert.Equal(t, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, history(t, c, map[string]any{}))

		var streams []string
		for _, k := range mr.Keys() {
			if strings.HasSuffix(k, ":stream") {
				streams = append(streams, k)
			}
		}
		require.Len(t, streams, 1, "one stream written: %q", mr.Keys())
		entries, err := mr.Stream(streams[0])
		require.NoError(t, err)
		assert.Len(t, entries, 10, "every message is in the stream")

		// A second node has nothing in memory: what it answers comes from
		// the stream the first node wrote.
		reader := testutil.StartServer(t, opts...)
		r := testutil.Dial(t, reader, acme)
		assert.Equal(t, []float64{7, 8, 9}, history(t, r, map[string]any{"limit": 3}))
		assert.Equal(t, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, history(t, r, map[string]any{}))
		other := testutil.Dial(t, reader, client.Options{Token: testutil.Token(t, secret, testutil.Claims("eve", "globex", "user"))})
		assert.Empty(t, history(t, other, map[string]any{}), "another tenant's history is another stream")
	})
}

// The append script learned how many entries XADD trimmed from the
// stream's length before and after, and popped that many items off the
// order list to unindex them. When the order list had gone while its stream
// lived on (the keys of one stream expire or are deleted apart), the items
// it popped were those of messages the stream still held, so their ids
// left the index: Locate and since/before bounds no longer found messages
// that were in history. Now the script compares the order list with the
// stream, pops only a surplus, and a live message stays indexed.
func TestRegression_ALostOrderListNeverUnindexesLiveMessages(t *testing.T) {
	mr := redistest.MiniRedis(t)
	rs, err := redisstore.New(redisstore.Options{URL: "redis://" + mr.Addr(), MaxLen: 5, Timeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rs.Close() })
	ctx := context.Background()
	key := store.Key{Tenant: "t", Room: "r", Channel: "c"}
	for i := range 5 {
		require.NoError(t, rs.Append(ctx, key, storetest.Msg(key, i)))
	}
	var order []string
	for _, k := range mr.Keys() {
		if strings.HasSuffix(k, ":order") {
			order = append(order, k)
		}
	}
	require.Len(t, order, 1, "keys %q", mr.Keys())
	mr.Del(order[0]) // gone apart from its stream
	for i := 5; i < 10; i++ {
		require.NoError(t, rs.Append(ctx, key, storetest.Msg(key, i))) // each trims one entry
	}
	page, err := rs.History(ctx, key, store.Query{Limit: 50})
	require.NoError(t, err)
	require.Equal(t, []string{"m00005", "m00006", "m00007", "m00008", "m00009"}, storetest.IDs(page.Messages))
	for _, id := range storetest.IDs(page.Messages) {
		_, found, err := rs.Locate(ctx, key, id)
		require.NoError(t, err)
		assert.True(t, found, "%s is in history and must stay indexed", id)
	}
}
