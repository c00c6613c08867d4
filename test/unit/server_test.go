package unit

import (
	"context"
	"encoding/json"
	"net/http"
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

func TestWelcomeCarriesTheClientID(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	w := c.Welcome()
	assert.Equal(t, "message", w.Type)
	assert.Equal(t, "arqonbus", w.Sender)
	p := testutil.Payload(t, w)
	assert.Equal(t, "Connected to ArqonBus", p["welcome"])
	assert.Regexp(t, `^arq_client_[0-9a-f]{32}$`, p["client_id"])
}

func TestEveryCommandGetsExactlyOneResponse(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	for _, name := range []string{"ping", "status", "whoami", "help", "list_channels", "nope"} {
		r := testutil.Request(t, c, &protocol.Envelope{Type: "command", Command: name})
		assert.Equal(t, "response", r.Type, name)
	}
	testutil.ExpectNone(t, c, 200*time.Millisecond)
}

func TestPingStatusAndWhoamiAnswerAsSpecified(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	ping := testutil.Command(t, c, "ping", nil)
	assert.Equal(t, true, ping["pong"])
	assert.Equal(t, c.ID(), ping["client_id"])

	st := testutil.Command(t, c, "status", nil)
	assert.Equal(t, "dev", st["profile"])
	assert.EqualValues(t, 1, st["connections"])
	storage := st["storage"].(map[string]any)
	assert.Equal(t, "memory", storage["backend"])

	testutil.Join(t, c, "science", "explore")
	who := testutil.Command(t, c, "whoami", nil)
	assert.Equal(t, "user", who["role"])
	assert.Equal(t, []any{map[string]any{"room": "science", "channel": "explore"}}, who["subscriptions"])
}

func TestUnknownCommandIsUnknownCommand(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	_, err := c.Command(testutil.Ctx(t), "launch_rockets", nil)
	require.Error(t, err)
	assert.Equal(t, protocol.CodeUnknownCommand, protocol.AsWire(err).Code)
}

func TestJoinAcceptsTheRoomChannelShorthand(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	data := testutil.Command(t, c, "join_channel", map[string]string{"room": "science:explore"})
	assert.Equal(t, "science", data["room"])
	assert.Equal(t, "explore", data["channel"])
	assert.EqualValues(t, 1, data["members"])
}

func TestBadCommandArgumentsAreValidationErrors(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	cases := map[string]any{
		"missing room":     map[string]any{},
		"room not string":  map[string]any{"room": 5, "channel": "c"},
		"unknown argument": map[string]any{"room": "r", "channel": "c", "colour": "red"},
		"no channel":       map[string]any{"room": "nochannel"},
		"control chars":    map[string]any{"room": "r\u0001", "channel": "c"},
	}
	for name, args := range cases {
		_, err := c.Command(testutil.Ctx(t), "join_channel", args)
		require.Error(t, err, name)
		assert.Equal(t, protocol.CodeValidation, protocol.AsWire(err).Code, name)
	}
}

func TestHistoryReturnsTheNewestMessagesOldestFirst(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	for i := 0; i < 10; i++ {
		testutil.Publish(t, c, "h", "c", map[string]int{"n": i})
	}
	data := testutil.Command(t, c, "history", map[string]any{"room": "h", "channel": "c", "limit": 3})
	msgs := data["messages"].([]any)
	require.Len(t, msgs, 3)
	var ns []float64
	for _, m := range msgs {
		ns = append(ns, m.(map[string]any)["payload"].(map[string]any)["n"].(float64))
	}
	assert.Equal(t, []float64{7, 8, 9}, ns)
	assert.Equal(t, true, data["complete"])
}

func TestInvalidFramesGetValidationErrorsAndTheConnectionStaysOpen(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	for _, frame := range []string{`{not json`, `[]`, `{"type":"message","payload":[]}`, `{"type":"command","command":"ping","bogus":1}`} {
		require.NoError(t, c.SendRaw(websocket.TextMessage, []byte(frame)))
		got := testutil.Expect(t, c)
		assert.Equal(t, "error", got.Type, frame)
		assert.Equal(t, "VALIDATION_ERROR", got.ErrorCode, frame)
		assert.NotContains(t, got.Error, "json:", frame)
	}
	testutil.Command(t, c, "ping", nil)
}

func TestCloseCodesForOversizedAndInvalidUTF8Frames(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.MaxMessageSize = 1024
		c.SendQueueBytes = 1 << 20
	}))
	big := testutil.Dial(t, s)
	require.NoError(t, big.SendRaw(websocket.TextMessage, []byte(`{"x":"`+strings.Repeat("a", 2000)+`"}`)))
	assert.Equal(t, protocol.CloseTooBig, testutil.ExpectClose(t, big, 5*time.Second))

	bad := testutil.Dial(t, s)
	require.NoError(t, bad.SendRaw(websocket.TextMessage, []byte("{\"a\":\"\xff\"}")))
	assert.Equal(t, protocol.CloseInvalidPayload, testutil.ExpectClose(t, bad, 5*time.Second))

	bin := testutil.Dial(t, s)
	require.NoError(t, bin.SendRaw(websocket.BinaryMessage, []byte(`{"type":"command","command":"ping","id":"b1"}`)))
	got := testutil.Expect(t, bin)
	assert.Equal(t, "response", got.Type, "binary frames holding JSON are accepted")
}

func TestRepeatedViolationsCloseWith1008(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) { c.MaxViolations = 3 }))
	c := testutil.Dial(t, s)
	for i := 0; i < 4; i++ {
		_ = c.SendRaw(websocket.TextMessage, []byte(`{bad`))
	}
	assert.Equal(t, protocol.ClosePolicy, testutil.ExpectClose(t, c, 5*time.Second))
}

func TestSpoofedSenderIsOverwritten(t *testing.T) {
	s := testutil.StartServer(t)
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, b, "r", "c")
	r := testutil.Request(t, a, &protocol.Envelope{Type: "message", Room: "r", Channel: "c",
		Sender: "admin", FromClient: "admin", Payload: json.RawMessage(`{}`)})
	require.Equal(t, "message_response", r.Type)
	got := testutil.Expect(t, b)
	assert.Equal(t, a.ID(), got.Sender)
	assert.Equal(t, a.ID(), got.FromClient)
}

func TestDirectMessagesReachOnlyTheTarget(t *testing.T) {
	s := testutil.StartServer(t)
	a, b, other := testutil.Dial(t, s), testutil.Dial(t, s), testutil.Dial(t, s)
	r := testutil.Request(t, a, &protocol.Envelope{Type: "message", ToClient: b.ID(), Payload: json.RawMessage(`{"dm":1}`)})
	assert.Equal(t, "message_response", r.Type)
	got := testutil.Expect(t, b)
	assert.Equal(t, b.ID(), got.ToClient)
	testutil.ExpectNone(t, other, 100*time.Millisecond)

	r = testutil.Request(t, a, &protocol.Envelope{Type: "message", ToClient: "arq_client_nobody", Payload: json.RawMessage(`{}`)})
	assert.Equal(t, "NOT_FOUND", r.ErrorCode)
}

func TestOpsEndpointsAnswer(t *testing.T) {
	s := testutil.StartServer(t)
	for path, want := range map[string]int{
		"/livez": 200, "/health": 200, "/readyz": 200, "/ready": 200, "/status": 200,
		"/version": 200, "/metrics": 200, "/metrics/prometheus": 200, "/nope": 404,
	} {
		code, body := s.Get(t, path)
		assert.Equal(t, want, code, path)
		if strings.HasPrefix(path, "/metrics") {
			assert.Contains(t, body, "arqonbus_connections_active")
		}
	}
	_, body := s.Get(t, "/readyz")
	assert.JSONEq(t, `{"status":"ready","storage":"ok","draining":false}`, body)
}

func TestOriginsAreCheckedAtTheHandshake(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.AllowedOrigins = []string{"https://app.example"}
	}))
	_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Header: http.Header{"Origin": {"https://evil.example"}}})
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusForbidden, he.Status)
	testutil.Dial(t, s, client.Options{Header: http.Header{"Origin": {"https://app.example"}}})
}

func TestConnectionCapAnswers503AndSparesExistingClients(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) { c.MaxConnections = 2 }))
	a, _ := testutil.Dial(t, s), testutil.Dial(t, s)
	_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{})
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusServiceUnavailable, he.Status)
	testutil.Command(t, a, "ping", nil)
}

func TestShutdownClosesClientsWith1001AfterFlushing(t *testing.T) {
	s := testutil.StartServer(t)
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, b, "r", "c")
	for i := 0; i < 50; i++ {
		require.NoError(t, a.Send(&protocol.Envelope{Type: "message", Room: "r", Channel: "c", Payload: json.RawMessage(`{}`)}))
	}
	testutil.Eventually(t, func() bool { return s.Counter(t, "messages_delivered_total") == 50 }, 5*time.Second, "50 deliveries")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	n := 0
	for {
		if _, err := b.RecvTimeout(time.Second); err != nil {
			break
		}
		n++
	}
	assert.Equal(t, 50, n, "queued frames are flushed before the close")
	assert.Equal(t, protocol.CloseGoingAway, testutil.ExpectClose(t, b, 5*time.Second))
}

func TestRateLimitErrorsThenCloses4029(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.RateLimitPerSecond, c.RateLimitBurst, c.RateLimitGrace = 10, 10, 300*time.Millisecond
	}))
	c := testutil.Dial(t, s)
	limited := 0
	pace := time.NewTicker(time.Millisecond) // 1000 frames/s against a limit of 10
	defer pace.Stop()
	giveUp := time.After(5 * time.Second)
send:
	for {
		select {
		case <-c.Done():
			break send
		case <-giveUp:
			break send
		case <-pace.C:
			if err := c.Send(&protocol.Envelope{Type: "command", Command: "ping"}); err != nil {
				break send
			}
		}
	}
	for {
		env, err := c.RecvTimeout(time.Second)
		if err != nil {
			break
		}
		if env.ErrorCode == "RATE_LIMIT_EXCEEDED" {
			limited++
		}
	}
	assert.Positive(t, limited)
	assert.Equal(t, protocol.CloseRateLimited, testutil.ExpectClose(t, c, 5*time.Second))
}
