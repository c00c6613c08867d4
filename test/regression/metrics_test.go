package regression

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// scrape fetches the server's /metrics as its arqonbus_ series, keyed as
// written (name and labels).
func scrape(t testing.TB, s *testutil.Server) map[string]float64 {
	t.Helper()
	code, body := s.Get(t, "/metrics")
	require.Equal(t, http.StatusOK, code)
	return testutil.ParseExposition(t, body).Series()
}

// selectorPattern finds the metric selectors of a PromQL expression:
// arqonbus_name with its optional {label="value",...} matchers.
var selectorPattern = regexp.MustCompile(`(arqonbus_[a-z_]+)(?:\{([^}]*)\})?`)

// runbookSection returns one "## " section of docs/runbook.md.
func runbookSection(t testing.TB, title string) string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/runbook.md")
	require.NoError(t, err)
	doc := string(raw)
	start := strings.Index(doc, "## "+title+"\n")
	require.GreaterOrEqual(t, start, 0, "docs/runbook.md has a %q section", title)
	section := doc[start+len(title)+4:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	return section
}

// A fresh node exposed no series for a labelled counter until the first
// increment (only storage operations, and auth reasons with auth on, were
// started), so the runbook's alerts on errors_total{code="INTERNAL_ERROR"},
// failures_total, connections_rejected_total{reason="capacity"} or
// messages_dropped_total showed "No data" on a healthy node, which reads as
// a broken scrape and hides the first real increase from rate(). Now every
// counter the alerts read has its series at 0 from start, and every
// labelled counter family has at least one (SPEC §8).
func TestRegression_EveryAlertedCounterReadsZeroOnAFreshNode(t *testing.T) {
	s := testutil.StartServer(t)
	got := scrape(t, s)

	alerts := runbookSection(t, "Metrics to alert on")
	selectors := selectorPattern.FindAllStringSubmatch(alerts, -1)
	require.GreaterOrEqual(t, len(selectors), 10, "the runbook's alert expressions name their metrics")
	for _, sel := range selectors {
		name, matchers := sel[1], sel[2]
		var matched []string
		for key := range got {
			if key != name && !strings.HasPrefix(key, name+"{") {
				continue
			}
			ok := true
			for m := range strings.SplitSeq(matchers, ",") {
				if m != "" && !strings.Contains(key, "{"+m) && !strings.Contains(key, ","+m) {
					ok = false
				}
			}
			if ok {
				matched = append(matched, key)
			}
		}
		if assert.NotEmpty(t, matched, "alert selector %s has no series on a fresh node", sel[0]) {
			for _, key := range matched {
				assert.Equal(t, 0.0, got[key], "%s on a fresh node", key)
			}
		}
	}

	reference := runbookSection(t, "Metrics reference")
	counters := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| counter \\|").FindAllStringSubmatch(reference, -1)
	require.NotEmpty(t, counters, "the runbook's metrics reference lists the counters")
	for _, c := range counters {
		name := "arqonbus_" + c[1]
		has := false
		for key := range got {
			has = has || key == name || strings.HasPrefix(key, name+"{")
		}
		assert.True(t, has, "counter %s has no series on a fresh node", name)
	}
}

// Label values were started only where a package happened to do it, so
// most series appeared when first counted: an operator could not tell "0
// refusals" from "no such reason", and every new reason looked like a new
// metric. Now the node starts every label value it can count under: taking
// it through every message type, every command (and unknown ones), error
// replies, handshake refusals, refused tokens, oversized, non-UTF-8 and
// rate-limited frames adds no series, only values (SPEC §8).
func TestRegression_NoLabelledSeriesAppearsAfterStart(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret), testutil.WithConfig(func(c *config.Config) {
		c.MaxMessageSize = 1024
		c.RateLimitPerSecond, c.RateLimitBurst = 20, 20
	}))
	before := scrape(t, s)
	token := testutil.Token(t, secret, testutil.Claims("alice", "acme", "user"))
	auth := http.Header{"Authorization": {"Bearer " + token}}
	guestToken := testutil.Token(t, secret, testutil.Claims("guest", "acme", "guest"))

	// Every type a frame can have, and one that does not decode.
	c := dialRaw(t, s.URL, auth)
	for _, frame := range []string{
		`{"id":"m1","type":"message","room":"r","channel":"c","payload":{}}`,
		`{"id":"m2","type":"event","room":"r","channel":"c","payload":{}}`,
		`{"id":"m3","type":"response","room":"r","channel":"c","request_id":"q","status":"success"}`,
		`{"id":"m4","type":"error","room":"r","channel":"c","error":"e"}`,
		`{"id":"m5","type":"operator.join","payload":{}}`,
		`{"id":"m6","type":"message","payload":{}}`,
		`{"id":"m7","type":"nonsense"}`,
		`not json`,
	} {
		c.roundTrip(frame)
	}
	c.send(`{"id":"m8","type":"telemetry","room":"r","channel":"c","payload":{}}`)

	// Every command, with successes and errors, an unknown one and a
	// prototype lane.
	cmd := dialRaw(t, s.URL, auth)
	for _, frame := range []string{
		`{"type":"command","command":"ping"}`,
		`{"type":"command","command":"status"}`,
		`{"type":"command","command":"whoami"}`,
		`{"type":"command","command":"help"}`,
		`{"type":"command","command":"list_channels"}`,
		`{"type":"command","command":"join_channel","args":{"room":"r","channel":"c"}}`,
		`{"type":"command","command":"channel_info","args":{"room":"r","channel":"c"}}`,
		`{"type":"command","command":"history","args":{"room":"r","channel":"c"}}`,
		`{"type":"command","command":"leave_channel","args":{"room":"r","channel":"c"}}`,
		`{"type":"command","command":"leave_channel","args":{"room":"r","channel":"c"}}`,
		`{"type":"command","command":"history"}`,
		`{"type":"command","command":"nope"}`,
		`{"type":"command","command":"op.task.get"}`,
	} {
		cmd.roundTrip(frame)
	}
	guest := dialRaw(t, s.URL, http.Header{"Authorization": {"Bearer " + guestToken}})
	guest.roundTrip(`{"type":"command","command":"join_channel","args":{"room":"r","channel":"c"}}`)
	guest.roundTrip(`{"id":"g1","type":"message","room":"r","channel":"c","payload":{}}`)

	// Refused handshakes and tokens.
	refusedHandshake(t, s, "")
	refusedHandshake(t, s, "not.a.token")
	expired := testutil.Claims("alice", "acme", "user")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	refusedHandshake(t, s, testutil.Token(t, secret, expired))
	code, _, _ := testutil.HTTPGet(t, s.HTTP+"/ws")
	assert.Equal(t, http.StatusUpgradeRequired, code)
	_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: token, Header: http.Header{"Origin": {"https://elsewhere.example"}}})
	require.Error(t, err, "a foreign origin is refused")

	// Frames that end their connection, and a rate-limited one.
	big := dialRaw(t, s.URL, auth)
	big.send(`{"type":"message","room":"r","channel":"c","payload":{"x":"` + strings.Repeat("x", 2048) + `"}}`)
	<-big.done
	assert.Equal(t, websocket.CloseMessageTooBig, big.closeCode)
	bad := dialRaw(t, s.URL, auth)
	require.NoError(t, bad.ws.WriteMessage(websocket.TextMessage, []byte{'{', 0xff, '}'}))
	<-bad.done
	assert.Equal(t, websocket.CloseInvalidFramePayloadData, bad.closeCode)
	fast := dialRaw(t, s.URL, auth)
	for range 25 {
		fast.send(`{"type":"command","command":"ping"}`)
	}
	fast.drain()

	testutil.Eventually(t, func() bool {
		return s.Counter(t, "messages_dropped_total", "too_big") == 1 &&
			s.Counter(t, "messages_dropped_total", "invalid_utf8") == 1 &&
			s.Counter(t, "messages_dropped_total", "rate_limited") > 0
	}, 5*time.Second, "the drops counted")
	after := scrape(t, s)
	for key := range after {
		_, started := before[key]
		assert.True(t, started, "series %s appeared after start", key)
	}
	moved := 0
	for key, v := range after {
		if v != before[key] && strings.Contains(key, "{") {
			moved++
		}
	}
	assert.Greater(t, moved, 40, "control: the traffic moved many labelled series")
}

// Rooms and channels were only in /status, and stored history nowhere, so
// a dashboard could not graph them or alert on a leak. Now arqonbus_rooms
// and arqonbus_channels are gauges that read the hub's own counts (the same
// ones /status shows) and arqonbus_memory_history_streams and
// arqonbus_memory_history_messages read the memory store's; they move with
// joins, leaves, disconnects and stored publishes (SPEC §8).
func TestRegression_RoomsChannelsAndStoredHistoryAreGaugesThatAgreeWithStatus(t *testing.T) {
	s := testutil.StartServer(t)
	check := func(step string, rooms, channels, streams, messages float64) {
		t.Helper()
		testutil.Eventually(t, func() bool {
			return s.Counter(t, "rooms") == rooms && s.Counter(t, "channels") == channels
		}, 5*time.Second, "%s: rooms %v, channels %v", step, rooms, channels)
		assert.Equal(t, streams, s.Counter(t, "memory_history_streams"), "%s: history streams", step)
		assert.Equal(t, messages, s.Counter(t, "memory_history_messages"), "%s: history messages", step)
		_, body := s.Get(t, "/status")
		st := obj(t, []byte(body))
		assert.Equal(t, rooms, st["rooms"], "%s: /status rooms agrees", step)
		assert.Equal(t, channels, st["channels"], "%s: /status channels agrees", step)
	}
	check("fresh", 0, 0, 0, 0)
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, a, "r1", "c1")
	testutil.Join(t, b, "r1", "c2")
	testutil.Join(t, b, "r2", "c1")
	testutil.Join(t, b, "r1", "c1")
	check("joined", 2, 3, 0, 0)
	testutil.Publish(t, a, "r1", "c1", map[string]int{"n": 1})
	testutil.Publish(t, a, "r1", "c1", map[string]int{"n": 2})
	testutil.Publish(t, a, "r9", "c9", map[string]int{"n": 3})
	check("published", 2, 3, 2, 3)
	_, err := b.Command(testutil.Ctx(t), "leave_channel", map[string]string{"room": "r2", "channel": "c1"})
	require.NoError(t, err)
	check("left", 1, 2, 2, 3)
	require.NoError(t, b.Close())
	check("disconnected", 1, 1, 2, 3)
}

// arqonbench offered --metrics-url to every workload, but fanout and
// channels ignored it: a run reported what the receivers saw and never what
// the server counted, so drops and slow-consumer disconnects on the server
// went unseen in benchmark results. Now a publishing run scrapes the server
// before and after and reports the change of its delivered, dropped and
// slow-consumer counters.
func TestRegression_FanoutReportsTheServersOwnCountersFromMetricsURL(t *testing.T) {
	s := testutil.StartServer(t)
	bin := filepath.Join(t.TempDir(), "arqonbench")
	build := exec.Command("go", "build", "-o", bin, "github.com/arqonbus/arqonbus/cmd/arqonbench")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build arqonbench:\n%s", out)

	ctx := testutil.Ctx(t)
	var stdout, stderr bytes.Buffer
	run := exec.CommandContext(ctx, bin, "fanout", "--subscribers", "5", "--rate", "50",
		"--duration", "500ms", "--warmup", "0", "--drain", "2s", "--sources", "0",
		"--url", s.URL, "--metrics-url", s.HTTP+"/metrics", "--json")
	run.Stdout, run.Stderr = &stdout, &stderr
	require.NoError(t, run.Run(), "arqonbench fanout:\n%s", stderr.String())

	var res struct {
		Received int64 `json:"received"`
		Server   *struct {
			Delivered               int64 `json:"delivered"`
			Dropped                 int64 `json:"dropped"`
			SlowConsumerDisconnects int64 `json:"slow_consumer_disconnects"`
		} `json:"server_counters"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "result %s", stdout.String())
	require.NotNil(t, res.Server, "the result carries the server's counters:\n%s", stdout.String())
	assert.Equal(t, int64(5*25), res.Received, "control: every delivery arrived")
	assert.Equal(t, res.Received, res.Server.Delivered, "the server counted the deliveries the receivers saw")
	assert.Equal(t, s.Counter(t, "messages_delivered_total"), float64(res.Server.Delivered), "as its own counter says")
	assert.Zero(t, res.Server.Dropped, "nothing dropped")
	assert.Zero(t, res.Server.SlowConsumerDisconnects, "no slow consumer")
	assert.Contains(t, stderr.String(), "server counters (warm-up included): delivered 125, dropped 0", "the summary says so")
	assert.NotContains(t, stderr.String(), "note: server metrics", "no scrape problem noted")
}
