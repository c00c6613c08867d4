//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// load describes publishers that run in rounds while a fault script plays:
// round r+1 begins once the script's step r is done, and step r happens in
// the middle of round r, with messages in flight.
type load struct {
	clients int           // publishing connections
	each    int           // messages per connection and round
	pace    time.Duration // at most one message per connection per pace
}

// step is one fault the script applies once `at` messages of its round have
// had their reply.
type step struct {
	at   int
	name string
	do   func(t *testing.T)
}

// outcome is what one message got.
type outcome struct {
	id    string
	round int
	after bool   // sent in the last round, after the fault script finished
	kind  string // "ack", "refused", "other" or "none"
	reply *protocol.Envelope
	err   error
}

// loadResult is what a run saw.
type loadResult struct {
	outcomes  []outcome
	delivered map[string]int // message id -> deliveries to the subscriber
	extra     int            // frames a publisher received beyond its replies
	livezBad  []string       // failed /livez polls
}

func (r *loadResult) ids(kind string, onlyAfter bool) []string {
	var ids []string
	for _, o := range r.outcomes {
		if o.kind == kind && (!onlyAfter || o.after) {
			ids = append(ids, o.id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (r *loadResult) count(kind string) int { return len(r.ids(kind, false)) }

// runLoad connects l.clients publishers and one subscriber of room:main to
// s, publishes while the steps play, and returns every message's outcome,
// what the subscriber received and what /livez said meanwhile. Storage must
// accept writes again by the end: a marker message then proves that every
// delivery has arrived.
func runLoad(t *testing.T, s *testutil.Server, room string, l load, steps []step) *loadResult {
	t.Helper()
	res := &loadResult{delivered: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	t.Cleanup(func() { cancel(); bg.Wait() })

	sub := testutil.Dial(t, s)
	testutil.Join(t, sub, room, "main")
	var mu sync.Mutex
	bg.Go(func() {
		for {
			env, err := sub.Recv(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			res.delivered[env.ID]++
			mu.Unlock()
		}
	})

	var livezBad []string
	bg.Go(func() {
		hc := &http.Client{Timeout: 2 * time.Second}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			resp, err := hc.Get(s.HTTP + "/livez")
			if err != nil {
				mu.Lock()
				livezBad = append(livezBad, err.Error())
				mu.Unlock()
				continue
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				mu.Lock()
				livezBad = append(livezBad, resp.Status)
				mu.Unlock()
			}
		}
	})

	pubs := make([]*client.Client, l.clients)
	var extra atomic.Int64
	for i := range pubs {
		pubs[i] = testutil.Dial(t, s)
		c := pubs[i]
		bg.Go(func() { // publishers join nothing: anything queued is a surplus reply
			for {
				if _, err := c.Recv(ctx); err != nil {
					return
				}
				extra.Add(1)
			}
		})
	}

	rounds := len(steps) + 1
	perRound := int64(l.clients * l.each)
	gates := make([]chan struct{}, rounds)
	opened := make([]sync.Once, rounds)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	open := func(r int) { opened[r].Do(func() { close(gates[r]) }) }
	openAll := func() {
		for r := range gates {
			open(r)
		}
	}
	open(0)
	var replies atomic.Int64
	outcomes := make([][]outcome, l.clients)
	var pw sync.WaitGroup
	t.Cleanup(func() { cancel(); openAll(); pw.Wait() }) // a test that stopped half way
	for ci := range pubs {
		pw.Go(func() {
			tick := time.NewTicker(l.pace)
			defer tick.Stop()
			for r := range rounds {
				select {
				case <-gates[r]:
				case <-ctx.Done():
					return
				}
				for i := range l.each {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
					mi := r*l.each + i
					o := outcome{id: fmt.Sprintf("%s-c%02d-m%03d", room, ci, mi), round: r, after: r == rounds-1}
					rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
					o.reply, o.err = publish(rctx, pubs[ci], room, "main", o.id, mi)
					rcancel()
					switch {
					case o.err != nil:
						o.kind = "none"
					case o.reply.Type == protocol.TypeMessageResponse && o.reply.Status == protocol.StatusSuccess:
						o.kind = "ack"
					case o.reply.Type == protocol.TypeError && o.reply.ErrorCode == string(protocol.CodeStorageUnavailable):
						o.kind = "refused"
					default:
						o.kind = "other"
					}
					outcomes[ci] = append(outcomes[ci], o)
					replies.Add(1)
				}
			}
		})
	}
	bg.Go(func() { <-ctx.Done(); openAll() })

	began := time.Now()
	for r, st := range steps {
		testutil.Eventually(t, func() bool { return replies.Load() >= int64(r)*perRound+int64(st.at) }, 60*time.Second,
			"%d replies in round %d before %s", st.at, r, st.name)
		stepAt := replies.Load()
		st.do(t)
		t.Logf("%-8s at reply %4d (round %d), done at %4d, %s in", st.name, stepAt, r, replies.Load(),
			time.Since(began).Round(time.Millisecond))
		open(r + 1)
	}
	pw.Wait()
	t.Logf("publishers done after %s", time.Since(began).Round(time.Millisecond))
	for _, o := range outcomes {
		res.outcomes = append(res.outcomes, o...)
	}

	// Every message acked so far was queued for the subscriber before its
	// ack: once a marker published now arrives, nothing earlier is in flight.
	// A ping answered on each publisher likewise comes after any surplus
	// reply to it.
	marker, tries := room+"-marker", 0
	testutil.Eventually(t, func() bool {
		tries++
		r, err := publish(testutil.Ctx(t), pubs[0], room, "main", fmt.Sprintf("%s-%d", marker, tries), -1)
		return err == nil && r.Type == protocol.TypeMessageResponse
	}, recoverWithin, "a marker message is accepted")
	testutil.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range res.delivered {
			if strings.HasPrefix(id, marker) {
				return true
			}
		}
		return false
	}, 10*time.Second, "the subscriber received the marker")
	for _, c := range pubs {
		testutil.Command(t, c, "ping", nil)
	}
	cancel()
	bg.Wait()
	for _, c := range pubs {
		for {
			if _, err := c.Recv(ctx); err != nil {
				break
			}
			extra.Add(1)
		}
	}
	mu.Lock()
	for id := range res.delivered {
		if strings.HasPrefix(id, marker) {
			delete(res.delivered, id)
		}
	}
	mu.Unlock()
	res.extra = int(extra.Load())
	res.livezBad = livezBad
	return res
}
