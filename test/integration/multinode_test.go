//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// twoNodes starts two servers that share the shared Redis.
func twoNodes(t *testing.T, opts ...testutil.Option) (*testutil.Server, *testutil.Server) {
	t.Helper()
	srv := redistest.Redis(t)
	opts = append([]testutil.Option{testutil.WithRedis(srv.URL(), config.ModeStrict)}, opts...)
	return testutil.StartServer(t, opts...), testutil.StartServer(t, opts...)
}

// expectID waits for c's next frame and checks its id and sender.
func expectID(t *testing.T, c *client.Client, id, sender string) {
	t.Helper()
	got := testutil.Expect(t, c)
	assert.Equal(t, id, got.ID, "frame %s", protocol.Encode(got))
	assert.Equal(t, sender, got.Sender)
}

func TestTwoNodesSharingRedisDeliverARoomMessageOnceToMembersOnBothNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	room := uniq("multi")
	onA, peerA, onB := testutil.Dial(t, a), testutil.Dial(t, a), testutil.Dial(t, b)
	for _, c := range []*client.Client{onA, peerA, onB} {
		testutil.Join(t, c, room, "main")
	}

	r, err := publish(testutil.Ctx(t), onA, room, "main", "from-a", 1)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	expectID(t, peerA, "from-a", onA.ID())
	expectID(t, onB, "from-a", onA.ID())

	r, err = publish(testutil.Ctx(t), onB, room, "main", "from-b", 2)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	expectID(t, onA, "from-b", onB.ID())
	expectID(t, peerA, "from-b", onB.ID())

	for _, c := range []*client.Client{onA, peerA, onB} {
		testutil.ExpectNone(t, c, 300*time.Millisecond) // no second copy, nothing back to the sender
	}
	ids, _ := historyPage(t, onB, room, "main", 10)
	assert.Equal(t, []string{"from-a", "from-b"}, ids, "both nodes write one shared history")
}

// directMessage sends a direct message from c to id until presence has
// reached the sender's node (the target node records it asynchronously),
// and returns the reply.
func directMessage(t *testing.T, c *client.Client, to, id string) *protocol.Envelope {
	t.Helper()
	var r *protocol.Envelope
	n := 0
	testutil.Eventually(t, func() bool {
		n++
		r = testutil.Request(t, c, &protocol.Envelope{
			ID: fmt.Sprintf("%s-%d", id, n), Type: protocol.TypeMessage, ToClient: to,
			Payload: json.RawMessage(`{"direct":true}`),
		})
		return r.ErrorCode != string(protocol.CodeNotFound)
	}, 5*time.Second, "a direct message to %s is accepted", to)
	return r
}

func TestADirectMessageReachesAClientConnectedToTheOtherNode(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	onA, onB, bystander := testutil.Dial(t, a), testutil.Dial(t, b), testutil.Dial(t, b)

	r := directMessage(t, onA, onB.ID(), "dm")
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "reply: %s", protocol.Encode(r))
	got := testutil.Expect(t, onB)
	assert.Equal(t, r.ID, got.ID)
	assert.Equal(t, onA.ID(), got.Sender)
	assert.Equal(t, onB.ID(), got.ToClient)
	assert.JSONEq(t, `{"direct":true}`, string(got.Payload))
	testutil.ExpectNone(t, onB, 300*time.Millisecond)
	testutil.ExpectNone(t, bystander, 0)
	testutil.ExpectNone(t, onA, 0)

	r = testutil.Request(t, onA, &protocol.Envelope{
		ID: "dm-nobody", Type: protocol.TypeMessage, ToClient: "arq_client_00000000000000000000000000000000",
		Payload: json.RawMessage(`{}`),
	})
	assert.Equal(t, string(protocol.CodeNotFound), r.ErrorCode, "no node serves that client")
}

func TestTenantsStayApartAcrossNodes(t *testing.T) {
	t.Parallel()
	const secret = "integration-secret-of-at-least-32-bytes"
	a, b := twoNodes(t, testutil.WithAuth(secret))
	dial := func(s *testutil.Server, sub, tenant string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, testutil.Claims(sub, tenant, "user"))})
	}
	acmeA, acmeB, globexB := dial(a, "ann", "acme"), dial(b, "bob", "acme"), dial(b, "gil", "globex")
	room := uniq("shared-name")
	for _, c := range []*client.Client{acmeA, acmeB, globexB} {
		testutil.Join(t, c, room, "main")
	}

	r, err := publish(testutil.Ctx(t), acmeA, room, "main", "acme-only", 1)
	require.NoError(t, err)
	assert.True(t, ack(t, r).Persisted)
	expectID(t, acmeB, "acme-only", acmeA.ID())
	testutil.ExpectNone(t, globexB, 300*time.Millisecond)

	// Once a globex client on node a reaches globexB, node b has published
	// its presence; acme still cannot reach it.
	globexA := dial(a, "gus", "globex")
	r = directMessage(t, globexA, globexB.ID(), "dm-globex")
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "reply: %s", protocol.Encode(r))
	assert.Equal(t, r.ID, testutil.Expect(t, globexB).ID)
	r = testutil.Request(t, acmeA, &protocol.Envelope{
		ID: "dm-cross-tenant", Type: protocol.TypeMessage, ToClient: globexB.ID(), Payload: json.RawMessage(`{}`),
	})
	assert.Equal(t, string(protocol.CodeNotFound), r.ErrorCode, "another tenant's client is not found")
	testutil.ExpectNone(t, globexB, 300*time.Millisecond)

	ids, _ := historyPage(t, globexB, room, "main", 10)
	assert.Empty(t, ids, "globex's history of the same room name is its own")
}

// twoNodesOn starts two servers that share the Redis srv, in degraded mode
// with redisTimeout.
func twoNodesOn(t *testing.T, srv *redistest.RedisServer) (*testutil.Server, *testutil.Server) {
	t.Helper()
	return startOn(t, srv, config.ModeDegraded), startOn(t, srv, config.ModeDegraded)
}

// restartBoth stops and starts Redis and waits until both nodes use it again.
func restartBoth(t *testing.T, srv *redistest.RedisServer, a, b *testutil.Server) {
	t.Helper()
	srv.Stop(t)
	srv.Start(t)
	// A write makes each node notice the outage if it has not yet.
	for _, s := range []*testutil.Server{a, b} {
		c := testutil.Dial(t, s)
		_, _ = publish(testutil.Ctx(t), c, uniq("nudge"), "main", "nudge", 0)
		waitReadyz(t, s, http.StatusOK, "ok", recoverWithin)
	}
}

func TestTwoNodesKeepSharingRoomsAfterRedisRestarts(t *testing.T) {
	t.Parallel()
	srv := redistest.RedisWithFaults(t)
	a, b := twoNodesOn(t, srv)
	onA, onB := testutil.Dial(t, a), testutil.Dial(t, b)
	testutil.Join(t, onA, "lab", "main")
	testutil.Join(t, onB, "lab", "main")
	_, err := publish(testutil.Ctx(t), onA, "lab", "main", "before-restart", 1)
	require.NoError(t, err)
	expectID(t, onB, "before-restart", onA.ID())

	restartBoth(t, srv, a, b)
	// Cross-node delivery resumes once each node has subscribed again;
	// messages published before that may be lost, as pub/sub promises no
	// more.
	eventuallyReaches(t, onA, onB, "a-after-restart")
	eventuallyReaches(t, onB, onA, "b-after-restart")
}

// eventuallyReaches publishes from one member of lab:main until another
// member, on the other node, receives one of the messages.
func eventuallyReaches(t *testing.T, from, to *client.Client, tag string) {
	t.Helper()
	n := 0
	testutil.Eventually(t, func() bool {
		n++
		id := fmt.Sprintf("%s-%d", tag, n)
		if _, err := publish(testutil.Ctx(t), from, "lab", "main", id, n); err != nil {
			return false
		}
		got, err := to.RecvTimeout(200 * time.Millisecond)
		return err == nil && got.ID == id
	}, 10*time.Second, "%s: a message reaches the other node after the restart", tag)
}

// A node records its clients' presence in Redis when they connect, and a
// direct message from another node looks it up there. A Redis that comes
// back empty (restarted without persistence, failed over, flushed) has
// forgotten every connected client: SPEC §3 still wants a direct message to
// reach a connected client, so presence must be written again.
func TestADirectMessageReachesAClientOnTheOtherNodeAfterRedisComesBackEmpty(t *testing.T) {
	t.Parallel()
	srv := redistest.RedisWithFaults(t)
	a, b := twoNodesOn(t, srv)
	onA, onB := testutil.Dial(t, a), testutil.Dial(t, b)
	r := directMessage(t, onA, onB.ID(), "dm-before")
	require.Equal(t, protocol.TypeMessageResponse, r.Type, "reply: %s", protocol.Encode(r))
	testutil.Expect(t, onB)

	restartBoth(t, srv, a, b)
	keys := scanKeys(t, redistest.RedisClient(t, srv), "*")
	t.Logf("keys in Redis after the restart: %q", keys)

	// The node liveness key is refreshed every 10 s; give presence as long
	// and a little more.
	var last *protocol.Envelope
	n := 0
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n++
		last = testutil.Request(t, onA, &protocol.Envelope{
			ID: fmt.Sprintf("dm-after-%d", n), Type: protocol.TypeMessage, ToClient: onB.ID(),
			Payload: json.RawMessage(`{"direct":true}`),
		})
		if last.Type == protocol.TypeMessageResponse {
			break
		}
		testutil.ExpectNone(t, onB, 250*time.Millisecond) // paces the retries; nothing may arrive
	}
	require.Equal(t, protocol.TypeMessageResponse, last.Type,
		"a direct message to a client still connected to node b, 15 s after Redis came back: %s", protocol.Encode(last))
	assert.Equal(t, last.ID, testutil.Expect(t, onB).ID)
}
