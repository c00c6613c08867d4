package adversarial

import (
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// closeWait bounds every wait for a connection to end, and settle bounds the
// wait for goroutines to wind down after an attack.
const (
	closeWait = 5 * time.Second
	settle    = 10 * time.Second
	// goroutineSlack tolerates runtime and HTTP keep-alive goroutines that
	// come and go independently of the attack.
	goroutineSlack = 4
)

// start runs a server with cfg applied to the defaults.
func start(t *testing.T, cfg ...func(*config.Config)) *testutil.Server {
	t.Helper()
	opts := make([]testutil.Option, len(cfg))
	for i, f := range cfg {
		opts[i] = testutil.WithConfig(f)
	}
	return testutil.StartServer(t, opts...)
}

// tolerant lets one connection send many invalid frames without reaching
// the violation limit, for tests that walk a table on one socket.
func tolerant(c *config.Config) { c.MaxViolations = 100000 }

// unlimited turns the per-connection rate limit off.
func unlimited(c *config.Config) { c.RateLimitPerSecond, c.RateLimitBurst = 0, 0 }

// bystander is an innocent publisher and subscriber pair sharing the server
// with an attacker. After an attack it must still publish, be acknowledged
// and receive.
type bystander struct {
	pub, sub *client.Client
	n        int
}

const bystanderRoom, bystanderChannel = "bystanders", "lobby"

func newBystander(t *testing.T, s *testutil.Server) *bystander {
	t.Helper()
	b := &bystander{pub: testutil.Dial(t, s), sub: testutil.Dial(t, s)}
	testutil.Join(t, b.sub, bystanderRoom, bystanderChannel)
	return b
}

// stillServed publishes one message and checks its ack and its delivery.
func (b *bystander) stillServed(t *testing.T) {
	t.Helper()
	b.n++
	ack := testutil.Publish(t, b.pub, bystanderRoom, bystanderChannel, map[string]int{"n": b.n})
	assert.Equal(t, 1, ack.Delivered, "the bystander's message reaches its one subscriber")
	got := testutil.Expect(t, b.sub)
	require.Equal(t, protocol.TypeMessage, got.Type, "bystander delivery: %s", protocol.Encode(got))
	assert.Equal(t, b.pub.ID(), got.Sender)
	assert.JSONEq(t, `{"n":`+strconv.Itoa(b.n)+`}`, string(got.Payload), "the bystander receives the message published after the attack")
}

// sendText writes one raw text frame.
func sendText(t *testing.T, c *client.Client, frame string) {
	t.Helper()
	require.NoError(t, c.SendRaw(websocket.TextMessage, []byte(frame)))
}

// expectCode waits for the next frame and requires an error reply with code.
func expectCode(t *testing.T, c *client.Client, code protocol.Code, what string) *protocol.Envelope {
	t.Helper()
	got, err := c.RecvTimeout(testutil.Timeout)
	require.NoError(t, err, "%s: expected a %s reply", what, code)
	require.Equal(t, string(code), got.ErrorCode, "%s: reply %s", what, protocol.Encode(got))
	assert.Contains(t, []string{protocol.TypeError, protocol.TypeResponse}, got.Type, what)
	return got
}

// problems returns the validation problems of an error reply.
func problems(t *testing.T, env *protocol.Envelope) []string {
	t.Helper()
	var p struct {
		Errors []string `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(env.Payload, &p), "error payload %s", env.Payload)
	return p.Errors
}

// internalWords never appear in a reply: they would mean Go internals leaked.
var internalWords = []string{"json:", "unmarshal", "Unmarshal", "map[string]", "goroutine", "panic", "runtime error", "*protocol", ".go:"}

func assertNoInternals(t *testing.T, env *protocol.Envelope, what string) {
	t.Helper()
	text := string(protocol.Encode(env))
	for _, w := range internalWords {
		assert.NotContains(t, text, w, "%s: the reply leaks internals", what)
	}
}

// assertStillOpen proves a connection is alive with a command round trip.
func assertStillOpen(t *testing.T, c *client.Client) {
	t.Helper()
	data := testutil.Command(t, c, "ping", nil)
	assert.Equal(t, true, data["pong"], "the connection stays open")
}

// goroutinesBack waits until the goroutine count is back near base.
func goroutinesBack(t *testing.T, base int) {
	t.Helper()
	testutil.Eventually(t, func() bool { return runtime.NumGoroutine() <= base+goroutineSlack },
		settle, "goroutines back near the baseline of %d", base)
}

// liveHeap is the heap in use after a full collection, in bytes.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapBack checks that the live heap is back within slack bytes of before.
func heapBack(t *testing.T, before uint64, slack int64) {
	t.Helper()
	after := liveHeap()
	assert.Less(t, int64(after)-int64(before), slack,
		"live heap grew from %d KiB to %d KiB", before>>10, after>>10)
}

// connectionsBack waits for the server's open connections to fall to n.
func connectionsBack(t *testing.T, s *testutil.Server, n int) {
	t.Helper()
	testutil.Eventually(t, func() bool { return s.Counter(t, "connections_active") == float64(n) },
		settle, "%d open connections", n)
}

// pad returns a string of n bytes.
func pad(n int) string { return strings.Repeat("x", n) }
