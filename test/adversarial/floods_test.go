package adversarial

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
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

// SPEC §2: a connection over its rate limit gets RATE_LIMIT_EXCEEDED errors,
// and once it has stayed over for longer than the grace period it is closed
// with 4029. Other connections have their own budgets and are unaffected.
func TestAConnectionFarAboveItsRateLimitGetsErrorsThenIsClosedWith4029(t *testing.T) {
	const grace = 500 * time.Millisecond
	s := start(t, func(c *config.Config) {
		c.RateLimitPerSecond, c.RateLimitBurst, c.RateLimitGrace = 20, 20, grace
	})
	by := newBystander(t, s)
	base := runtime.NumGoroutine()

	var limited, answered atomic.Int64
	hostile := testutil.Dial(t, s, client.Options{OnFrame: func(b []byte) {
		if bytes.Contains(b, []byte(`"error_code":"RATE_LIMIT_EXCEEDED"`)) {
			limited.Add(1)
		} else {
			answered.Add(1)
		}
	}})
	began := time.Now()
	tick := time.NewTicker(time.Millisecond) // about 1000 frames/s, 50 times the limit
	defer tick.Stop()
	giveUp := time.NewTimer(grace + closeWait)
	defer giveUp.Stop()
	sent := 0
flood:
	for {
		select {
		case <-hostile.Done():
			break flood
		case <-tick.C:
			if hostile.Send(&protocol.Envelope{Type: "command", Command: "ping"}) != nil {
				break flood
			}
			sent++
		case <-giveUp.C:
			t.Fatal("the hostile client was never closed")
		}
	}
	code, _ := hostile.CloseCode()
	elapsed := time.Since(began)
	assert.Equal(t, protocol.CloseRateLimited, code)
	assert.GreaterOrEqual(t, elapsed, grace, "not before the grace period")
	assert.Positive(t, limited.Load(), "RATE_LIMIT_EXCEEDED errors came first")
	assert.LessOrEqual(t, answered.Load(), 20+int64(20*elapsed.Seconds())+1,
		"no more frames were served than the burst and the rate allow")
	assert.Positive(t, s.Counter(t, "errors_total", "RATE_LIMIT_EXCEEDED"))
	t.Logf("sent %d frames, %d answered, %d refused", sent, answered.Load(), limited.Load())

	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	by.stillServed(t)
}

// With rate limiting off, a flood of commands is answered exactly once per
// command, in order, while a bystander keeps being served during the flood.
// The flooder keeps at most window commands unanswered: the replies in
// flight (help is the largest, ~5 KiB) then stay far below its 1 MiB send
// queue, so a flooder whose reader is starved of CPU on a loaded machine is
// slowed down, never dropped as a slow consumer (what a client that stops
// reading gets is the slow-consumer test's subject).
func TestACommandFloodIsAnsweredOncePerCommandWhileOthersAreServed(t *testing.T) {
	s := start(t, unlimited)
	by := newBystander(t, s)
	base, heap := runtime.NumGoroutine(), liveHeap()

	var mu sync.Mutex
	var order []string
	replies := map[string]int{}
	answered := newProgress()
	hostile := testutil.Dial(t, s, client.Options{OnFrame: func(b []byte) {
		var probe struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(b, &probe)
		mu.Lock()
		replies[probe.RequestID]++
		order = append(order, probe.RequestID)
		mu.Unlock()
		answered.notify()
	}})
	received := func() int { mu.Lock(); defer mu.Unlock(); return len(order) }
	const n, window = 3000, 64
	commands := []string{"ping", "status", "whoami", "list_channels", "help", "no_such_command", "history"}
	flooded := make(chan error, 1)
	go func() {
		for i := range n {
			for received() <= i-window {
				select {
				case <-answered.wake:
				case <-time.After(testutil.Timeout):
					flooded <- fmt.Errorf("no reply for %s with %d commands unanswered", testutil.Timeout, i-received())
					return
				}
			}
			env := &protocol.Envelope{ID: fmt.Sprintf("flood-%d", i), Type: "command", Command: commands[i%len(commands)]}
			if err := hostile.Send(env); err != nil {
				flooded <- err
				return
			}
		}
		flooded <- nil
	}()
	for range 3 {
		by.stillServed(t)
	}
	require.NoError(t, <-flooded)
	testutil.Eventually(t, func() bool { return received() >= n }, 30*time.Second, "%d replies", n)
	mu.Lock()
	for i := range n {
		id := fmt.Sprintf("flood-%d", i)
		assert.Equal(t, 1, replies[id], "%s is answered exactly once", id)
		assert.Equal(t, id, order[i], "replies come in order")
		if t.Failed() {
			break
		}
	}
	assert.Len(t, order, n, "no unprompted frames")
	order, replies = nil, nil
	mu.Unlock()
	require.NoError(t, hostile.Close())
	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	heapBack(t, heap, 8<<20)
	by.stillServed(t)
}

// SPEC §2: beyond ARQONBUS_MAX_CONNECTIONS the handshake is refused with HTTP
// 503; existing clients are unaffected, and capacity comes back when the
// flood goes away.
func TestAConnectionFloodPastTheCapIsRefusedWith503AndSparesExistingClients(t *testing.T) {
	const maxConns, flood = 20, 60
	s := start(t, func(c *config.Config) { c.MaxConnections = maxConns })
	by := newBystander(t, s)
	base, heap := runtime.NumGoroutine(), liveHeap()

	var wg sync.WaitGroup
	results := make(chan error, flood)
	conns := make(chan *client.Client, flood)
	for range flood {
		wg.Go(func() {
			c, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{})
			if err == nil {
				conns <- c
			}
			results <- err
		})
	}
	wg.Wait()
	close(results)
	close(conns)
	accepted, refused := 0, 0
	for err := range results {
		if err == nil {
			accepted++
			continue
		}
		var he *client.HandshakeError
		if assert.ErrorAs(t, err, &he) {
			assert.Equal(t, http.StatusServiceUnavailable, he.Status)
			assert.JSONEq(t, `{"error":"Service Unavailable","details":"connection limit reached"}`, he.Body)
			refused++
		}
	}
	assert.Equal(t, maxConns-2, accepted, "exactly the free capacity was granted")
	assert.Equal(t, flood-(maxConns-2), refused)
	assert.EqualValues(t, refused, s.Counter(t, "connections_rejected_total", "capacity"))
	by.stillServed(t)

	for c := range conns {
		require.NoError(t, c.Close())
	}
	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	heapBack(t, heap, 4<<20)
	testutil.Dial(t, s)
	by.stillServed(t)
}

// SPEC §3: ARQONBUS_MAX_SUBSCRIPTIONS caps the pairs a client is in; joins
// past it are LIMIT_EXCEEDED and create nothing, while re-joining a pair
// already held and joining after a leave still work.
func TestSubscriptionsPastTheCapAreLimitExceededAndCreateNothing(t *testing.T) {
	const maxSubs = 8
	s := start(t, unlimited, func(c *config.Config) { c.MaxSubscriptions = maxSubs })
	by := newBystander(t, s)
	c := testutil.Dial(t, s)
	for i := range maxSubs {
		testutil.Join(t, c, "cap", fmt.Sprintf("c%d", i))
	}
	for i := maxSubs; i < maxSubs+500; i++ {
		_, err := c.Command(testutil.Ctx(t), "join_channel", map[string]string{"room": "cap", "channel": fmt.Sprintf("c%d", i)})
		require.Error(t, err)
		require.Equal(t, protocol.CodeLimitExceeded, protocol.AsWire(err).Code, "join %d", i)
	}
	testutil.Join(t, c, "cap", "c0") // already a member: not a new subscription
	who := testutil.Command(t, c, "whoami", nil)
	assert.Len(t, who["subscriptions"], maxSubs)
	status := testutil.Command(t, c, "status", nil)
	assert.EqualValues(t, maxSubs+1, status["channels"], "refused joins created no pairs (+1 for the bystander)")

	testutil.Command(t, c, "leave_channel", map[string]string{"room": "cap", "channel": "c0"})
	testutil.Join(t, c, "cap", "fresh")
	assertStillOpen(t, c)
	by.stillServed(t)
}

// SPEC §2: protocol violations beyond ARQONBUS_MAX_VIOLATIONS in a minute
// close the connection with 1008; every violation before that is answered,
// and another connection's count is its own.
func TestRepeatedViolationsCloseWith1008OnlyPastTheLimit(t *testing.T) {
	const maxViolations = 5
	s := start(t, func(c *config.Config) { c.MaxViolations = maxViolations })
	by := newBystander(t, s)
	base := runtime.NumGoroutine()

	violations := []struct {
		kind  int
		frame string
	}{
		{websocket.TextMessage, `{bad json`},
		{websocket.TextMessage, `[]`},
		{websocket.TextMessage, `{"type":"message","payload":[]}`},
		{websocket.BinaryMessage, "{\"type\":\"\xff\"}"},
		{websocket.TextMessage, `{"type":"command","command":"ping","bogus":1}`},
		{websocket.TextMessage, `{"type":"teleport"}`},
	}
	hostile, other := testutil.Dial(t, s), testutil.Dial(t, s)
	for i, v := range violations[:maxViolations] {
		require.NoError(t, hostile.SendRaw(v.kind, []byte(v.frame)))
		expectCode(t, hostile, protocol.CodeValidation, fmt.Sprintf("violation %d", i+1))
		require.NoError(t, other.SendRaw(v.kind, []byte(v.frame)))
		expectCode(t, other, protocol.CodeValidation, fmt.Sprintf("other's violation %d", i+1))
	}
	assertStillOpen(t, hostile)
	v := violations[maxViolations]
	require.NoError(t, hostile.SendRaw(v.kind, []byte(v.frame)))
	expectCode(t, hostile, protocol.CodeValidation, "the violation past the limit is still answered")
	assert.Equal(t, protocol.ClosePolicy, testutil.ExpectClose(t, hostile, closeWait))
	assertStillOpen(t, other)

	// A flood of violations ends the same way, quickly.
	flooder := testutil.Dial(t, s, client.Options{OnFrame: func([]byte) {}})
	for range 10000 {
		if flooder.SendRaw(websocket.TextMessage, []byte(`{bad`)) != nil {
			break
		}
		select {
		case <-flooder.Done():
		default:
			continue
		}
		break
	}
	assert.Equal(t, protocol.ClosePolicy, testutil.ExpectClose(t, flooder, closeWait))
	require.NoError(t, other.Close())
	connectionsBack(t, s, 2)
	goroutinesBack(t, base)
	by.stillServed(t)
}

// DESIGN §2.5 and SPEC §2: what the server queues for a client is bounded in
// bytes. A client that floods pings and never reads makes the server queue a
// pong per ping behind a full socket; those pongs must stay bounded too (RFC
// 6455 §5.5.3 lets a server answer only the latest ping), or the client must
// be closed. Either way the server's heap stays flat.
func TestAPingFloodFromAClientThatNeverReadsKeepsServerMemoryBounded(t *testing.T) {
	const pings = 200000 // 125-byte pings: 25 MB of pongs if each were kept
	s := start(t)
	by := newBystander(t, s)
	heap := liveHeap()

	d := net.Dialer{Timeout: testutil.Timeout, Control: smallReceiveBuffer(4096)}
	nc, err := d.DialContext(testutil.Ctx(t), "tcp", s.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	raw := testutil.UpgradeRawWS(t, s, nc)
	ping := testutil.ClientFrame(testutil.FinBit|testutil.OpPing, []byte(pad(125)), false)
	batch := bytes.Repeat(ping, 1000)
	sent := 0
	for sent < pings {
		if raw.WriteBytes(batch) != nil {
			break // closed by the server: also a bounded outcome
		}
		sent += 1000
	}
	// Let the server take in what was sent: wait until the live heap stops
	// moving, then measure.
	last := int64(liveHeap())
	testutil.Eventually(t, func() bool {
		now := int64(liveHeap())
		steady := now-last < 256<<10 && last-now < 256<<10
		last = now
		return steady
	}, settle, "the server to take in the pings")
	grown := last - int64(heap)
	t.Logf("sent %d pings; live heap grew by %d KiB", sent, grown>>10)
	assert.Less(t, grown, int64(16<<20), "pongs queued behind a full socket stay bounded")
	_ = nc.Close()
	by.stillServed(t)
}
