//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

const readsSecret = "integration-history-reads-secret-0123"

// steadyPublisher publishes one message every interval until stop, and
// records each acknowledgement's latency and every failure.
func steadyPublisher(ctx context.Context, c *client.Client, room string, interval time.Duration) (latencies []time.Duration, failures []string) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return latencies, failures
		case <-tick.C:
		}
		began := time.Now()
		r, err := c.Request(context.Background(), &protocol.Envelope{Type: protocol.TypeMessage, Room: room,
			Channel: "main", Payload: protocol.Object(map[string]int{"n": n})})
		switch {
		case err != nil:
			failures = append(failures, err.Error())
		case r.Status != protocol.StatusSuccess:
			failures = append(failures, string(protocol.Encode(r)))
		default:
			latencies = append(latencies, time.Since(began))
		}
	}
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

// One tenant reading pages of 500 large messages as fast as it can, on as
// many connections as its read bound allows, must neither mark storage
// down nor fail another tenant's writes: the reads fetch what a reply can
// carry, and a read that fails or is slow does not touch the state.
func TestLargeHistoryReadsOfOneTenantLeaveStrictStorageReadyForAnother(t *testing.T) {
	const (
		stored      = 200
		messageSize = 900 << 10
		readers     = 4
		baseline    = 3 * time.Second
		attack      = 6 * time.Second
	)
	redisSrv := redistest.RedisWithFaults(t) // a Redis of its own: the load stays here
	s := testutil.StartServer(t, testutil.WithRedis(redisSrv.URL(), config.ModeStrict),
		testutil.WithAuth(readsSecret), testutil.WithConfig(func(c *config.Config) {
			c.HistoryReadsPerTenant = readers
		}))
	sendQueue := s.Config.SendQueueBytes
	dial := func(sub, tenant string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, readsSecret, testutil.Claims(sub, tenant, "user"))})
	}
	heavyRoom, calmRoom := uniq("heavy"), uniq("calm")
	filler := dial("filler", "heavy")
	big := strings.Repeat("x", messageSize)
	for i := range stored {
		testutil.Publish(t, filler, heavyRoom, "main", map[string]any{"i": i, "p": big})
	}
	calm := dial("calm", "calm")

	ctx, stop := context.WithTimeout(context.Background(), baseline)
	quietLat, quietFail := steadyPublisher(ctx, calm, calmRoom, 10*time.Millisecond)
	stop()
	require.Empty(t, quietFail)

	var (
		wg        sync.WaitGroup
		reads     atomic.Int64
		readFails sync.Map // reply text -> true
		largest   atomic.Int64
	)
	ctx, stop = context.WithTimeout(context.Background(), attack)
	defer stop()
	for i := range readers {
		c := dial("reader-"+string(rune('a'+i)), "heavy")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r, err := c.Request(context.Background(), &protocol.Envelope{Type: protocol.TypeCommand,
					Command: "history", Args: []byte(`{"room":"` + heavyRoom + `","channel":"main","limit":500}`)})
				if err != nil {
					readFails.Store(err.Error(), true)
					return
				}
				if r.Status != protocol.StatusSuccess {
					readFails.Store(r.ErrorCode, true)
					continue
				}
				var body struct {
					Data struct {
						Messages []json.RawMessage `json:"messages"`
					} `json:"data"`
				}
				if json.Unmarshal(r.Payload, &body) != nil || len(body.Data.Messages) == 0 {
					readFails.Store("empty page", true)
					continue
				}
				n := 0
				for _, m := range body.Data.Messages {
					n += len(m)
				}
				for old := largest.Load(); int64(n) > old && !largest.CompareAndSwap(old, int64(n)); old = largest.Load() {
				}
				reads.Add(1)
			}
		}()
	}
	var notReady atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if code, _ := s.Get(t, "/readyz"); code != http.StatusOK {
				notReady.Add(1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	loadLat, loadFail := steadyPublisher(ctx, calm, calmRoom, 10*time.Millisecond)
	wg.Wait()

	t.Logf("calm tenant's ack p99: %v alone (%d acks), %v while the heavy tenant read (%d acks); heavy reads answered: %d, largest reply %d bytes",
		p99(quietLat), len(quietLat), p99(loadLat), len(loadLat), reads.Load(), largest.Load())
	assert.Empty(t, loadFail, "the calm tenant's publishes all succeed")
	assert.Zero(t, notReady.Load(), "/readyz answered 200 throughout")
	assert.Zero(t, stateChanges(s.Logs.String(), "down"), "no ok→down line")
	readFails.Range(func(k, _ any) bool {
		t.Errorf("a heavy read failed: %v", k)
		return true
	})
	assert.Positive(t, reads.Load(), "the heavy reads ran: the attack was live")
	assert.LessOrEqual(t, largest.Load(), int64(sendQueue), "every reply fits the send queue")
	assert.NotEmpty(t, loadLat)
}
