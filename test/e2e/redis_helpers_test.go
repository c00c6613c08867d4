//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// storageKeyPrefix is the binary's default key prefix for history streams
// and the cluster broker.
const storageKeyPrefix = "arqonbus:"

// redisEnv is devEnv with Redis storage in mode at url, plus extra.
func redisEnv(url, mode string, extra ...string) []string {
	return devEnv(append([]string{
		"ARQONBUS_STORAGE_BACKEND=redis",
		"ARQONBUS_STORAGE_MODE=" + mode,
		"ARQONBUS_REDIS_URL=" + url,
	}, extra...)...)
}

// readiness is a /readyz answer.
type readiness struct {
	code    int
	storage string
	body    string
}

// readyz fetches /readyz.
func readyz(t *testing.T, p *testutil.Proc) readiness {
	t.Helper()
	code, _, body := p.Get(t, "/readyz")
	r := readiness{code: code, body: body}
	if s, ok := decodeJSON(t, body)["storage"].(string); ok {
		r.storage = s
	}
	return r
}

// waitReadyz polls /readyz until it answers code with storage state, and
// returns how long that took.
func waitReadyz(t *testing.T, p *testutil.Proc, code int, storage string, timeout time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	var last readiness
	ok := testutil.Poll(timeout, func() bool {
		last = readyz(t, p)
		return last.code == code && last.storage == storage
	})
	if !ok {
		t.Fatalf("/readyz did not answer %d with storage %q within %s; last: %d %s",
			code, storage, timeout, last.code, last.body)
	}
	return time.Since(began)
}

// scrape fetches the binary's /metrics.
func scrape(t *testing.T, p *testutil.Proc) testutil.Exposition {
	t.Helper()
	code, _, body := p.Get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	return testutil.ParseExposition(t, body)
}

// storageStatus returns /status's storage object.
func storageStatus(t *testing.T, p *testutil.Proc) map[string]any {
	t.Helper()
	code, _, body := p.Get(t, "/status")
	if code != http.StatusOK {
		t.Fatalf("GET /status: %d %s", code, body)
	}
	st, ok := decodeJSON(t, body)["storage"].(map[string]any)
	if !ok {
		t.Fatalf("/status has no storage object: %s", body)
	}
	return st
}

// storedMessageIDs reads every history stream the binary wrote under the
// default prefix and counts the entries per message id (the "id" field).
func storedMessageIDs(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := rdb.Keys(ctx, storageKeyPrefix+"*:stream").Result()
	if err != nil {
		t.Fatalf("list history streams: %v", err)
	}
	ids := map[string]int{}
	for _, key := range keys {
		const page = 1000
		start := "-"
		for {
			entries, err := rdb.XRangeN(ctx, key, start, "+", page).Result()
			if err != nil {
				t.Fatalf("XRANGE %s: %v", key, err)
			}
			for _, e := range entries {
				if id, ok := e.Values["id"].(string); ok {
					ids[id]++
				}
			}
			if len(entries) < page {
				break
			}
			start = "(" + entries[len(entries)-1].ID
		}
	}
	return ids
}

// loadPublisher sends messages with unique ids at a steady pace without
// waiting for their replies, and sorts every frame it receives.
type loadPublisher struct {
	name string
	c    *client.Client

	mu      sync.Mutex
	sent    []string
	acked   map[string]int
	refused map[string]int
	other   []string // frames that are neither an ack nor a refusal, as text
	sendErr error
}

// loadRun is publishers and one subscriber on room:channel. The running
// totals let the test move from one phase to the next on events rather
// than on the clock.
type loadRun struct {
	room, channel string
	interval      time.Duration
	pubs          []*loadPublisher
	sub           *client.Client

	acked, refused atomic.Int64

	subMu     sync.Mutex
	delivered map[string]int
	order     map[string][]int // publisher name → sequence numbers in delivery order
	subOther  []string

	stop     chan struct{}
	stopOnce sync.Once
	senders  sync.WaitGroup
	readers  sync.WaitGroup
	cancel   context.CancelFunc
}

// startLoad connects a subscriber to room:channel and n publishers, and
// starts publishing, one message per publisher every interval. Sending and
// reading stop when the test ends, at the latest.
func startLoad(t *testing.T, url, room, channel string, n int, interval time.Duration) *loadRun {
	t.Helper()
	r := &loadRun{room: room, channel: channel, interval: interval,
		delivered: map[string]int{}, order: map[string][]int{}, stop: make(chan struct{})}
	r.sub = dial(t, url)
	testutil.Join(t, r.sub, room, channel)
	for i := range n {
		r.pubs = append(r.pubs, &loadPublisher{name: fmt.Sprintf("p%02d", i), c: dial(t, url),
			acked: map[string]int{}, refused: map[string]int{}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(r.halt)
	r.readers.Add(1 + len(r.pubs))
	go r.readSubscriber(ctx)
	for _, p := range r.pubs {
		go r.readReplies(ctx, p)
	}
	r.senders.Add(len(r.pubs))
	for _, p := range r.pubs {
		go r.send(p)
	}
	return r
}

// send publishes "<name>_<seq>" on every tick until stopSending.
func (r *loadRun) send(p *loadPublisher) {
	defer r.senders.Done()
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		id := fmt.Sprintf("%s_%05d", p.name, seq)
		p.mu.Lock()
		p.sent = append(p.sent, id)
		p.mu.Unlock()
		err := p.c.Send(&protocol.Envelope{ID: id, Type: protocol.TypeMessage, Room: r.room, Channel: r.channel,
			Payload: json.RawMessage(`{"seq":` + strconv.Itoa(seq) + `}`)})
		if err != nil {
			p.mu.Lock()
			p.sendErr = fmt.Errorf("send %s: %w", id, err)
			p.mu.Unlock()
			return
		}
	}
}

// readReplies sorts the frames a publisher receives.
func (r *loadRun) readReplies(ctx context.Context, p *loadPublisher) {
	defer r.readers.Done()
	for {
		env, err := p.c.Recv(ctx)
		if err != nil {
			return
		}
		p.mu.Lock()
		switch {
		case env.Type == protocol.TypeMessageResponse && env.Status == protocol.StatusSuccess:
			var ack client.Ack
			if json.Unmarshal(env.Payload, &ack) != nil || !ack.Persisted {
				p.other = append(p.other, "ack without persisted:true: "+string(protocol.Encode(env)))
			}
			p.acked[env.ID]++
			r.acked.Add(1)
		case env.Type == protocol.TypeError && env.ErrorCode == string(protocol.CodeStorageUnavailable):
			p.refused[env.RequestID]++
			r.refused.Add(1)
		default:
			p.other = append(p.other, string(protocol.Encode(env)))
		}
		p.mu.Unlock()
	}
}

// readSubscriber records what the subscriber receives.
func (r *loadRun) readSubscriber(ctx context.Context) {
	defer r.readers.Done()
	for {
		env, err := r.sub.Recv(ctx)
		if err != nil {
			return
		}
		r.subMu.Lock()
		name, seq, ok := strings.Cut(env.ID, "_")
		n, err := strconv.Atoi(seq)
		if env.Type != protocol.TypeMessage || !ok || err != nil {
			r.subOther = append(r.subOther, string(protocol.Encode(env)))
		} else {
			r.delivered[env.ID]++
			r.order[name] = append(r.order[name], n)
		}
		r.subMu.Unlock()
	}
}

// stopSending stops the publishers and waits until none sends any more.
func (r *loadRun) stopSending() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.senders.Wait()
}

// halt stops sending and reading. Idempotent.
func (r *loadRun) halt() {
	r.stopSending()
	r.cancel()
	r.readers.Wait()
}

// unanswered counts the sent frames that have no reply yet.
func (r *loadRun) unanswered() int {
	n := 0
	for _, p := range r.pubs {
		p.mu.Lock()
		n += len(p.sent) - len(p.acked) - len(p.refused)
		p.mu.Unlock()
	}
	return n
}

// undelivered counts the acknowledged ids the subscriber has not received.
func (r *loadRun) undelivered() int {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	n := 0
	for _, p := range r.pubs {
		p.mu.Lock()
		for id := range p.acked {
			if r.delivered[id] == 0 {
				n++
			}
		}
		p.mu.Unlock()
	}
	return n
}

// waitCount polls until at least want (from a running total) or fails.
func waitCount(t *testing.T, total *atomic.Int64, want int64, timeout time.Duration, what string) {
	t.Helper()
	if !testutil.Poll(timeout, func() bool { return total.Load() >= want }) {
		t.Fatalf("timed out after %s waiting for %d %s; have %d", timeout, want, what, total.Load())
	}
}

// loadTally is the outcome of a load run checked against Redis.
type loadTally struct {
	sent, acked, refused int
	foundInRedis         int // sent ids with an entry in Redis
	ackedMissing         int // acknowledged ids without one
	refusedInRedis       int // refused ids with one (allowed: the write may have landed after its timeout)
	refusedDelivered     int // refused ids the subscriber received
	// unexpected are frames that are neither one ack nor one refusal of a
	// sent id, duplicate or out-of-order deliveries; violations describe
	// acknowledged ids missing from Redis and refused ids delivered, the
	// first few of each.
	unexpected, violations []string
}

// maxViolations bounds the ids tally names per kind of violation.
const maxViolations = 10

// tally counts the replies of every sent id and checks them against the
// subscriber's deliveries and stored, the ids found in Redis. Call it after
// halt.
func (r *loadRun) tally(stored map[string]int) loadTally {
	var n loadTally
	for _, p := range r.pubs {
		if p.sendErr != nil {
			n.unexpected = append(n.unexpected, fmt.Sprintf("%s: %v", p.name, p.sendErr))
		}
		ids := map[string]bool{}
		for _, id := range p.sent {
			ids[id] = true
			n.sent++
			if stored[id] > 0 {
				n.foundInRedis++
			}
			switch a, f := p.acked[id], p.refused[id]; {
			case a == 1 && f == 0:
				n.acked++
				if stored[id] == 0 {
					if n.ackedMissing++; n.ackedMissing <= maxViolations {
						n.violations = append(n.violations, id+" was acknowledged but is not in Redis")
					}
				}
			case a == 0 && f == 1:
				n.refused++
				if stored[id] > 0 {
					n.refusedInRedis++
				}
				if r.delivered[id] > 0 {
					if n.refusedDelivered++; n.refusedDelivered <= maxViolations {
						n.violations = append(n.violations, id+" was refused but delivered to the subscriber")
					}
				}
			default:
				n.unexpected = append(n.unexpected, fmt.Sprintf("%s got %d acks and %d refusals", id, a, f))
			}
		}
		for _, replies := range []map[string]int{p.acked, p.refused} {
			for id := range replies {
				if !ids[id] {
					n.unexpected = append(n.unexpected, fmt.Sprintf("%s: a reply for %q, which it never sent", p.name, id))
				}
			}
		}
		n.unexpected = append(n.unexpected, p.other...)
	}
	n.unexpected = append(n.unexpected, r.subOther...)
	for id, times := range r.delivered {
		if times > 1 {
			n.unexpected = append(n.unexpected, fmt.Sprintf("the subscriber received %s %d times", id, times))
		}
	}
	for name, seqs := range r.order {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				n.unexpected = append(n.unexpected,
					fmt.Sprintf("the subscriber received %s_%05d after %s_%05d", name, seqs[i], name, seqs[i-1]))
				break
			}
		}
	}
	return n
}
