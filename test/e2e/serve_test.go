//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// quiet is how long a test listens to prove that no further frame comes.
const quiet = 300 * time.Millisecond

func TestTwoClientsInScienceExploreExchangeAMessageThroughTheBinary(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, devEnv())
	sender, peer := dial(t, p.URL), dial(t, p.URL)
	testutil.Join(t, sender, "science", "explore")
	joined := testutil.Command(t, peer, "join_channel", map[string]string{"room": "science:explore"})
	assert.Equal(t, map[string]any{"room": "science", "channel": "explore", "members": float64(2)}, joined)

	msg := &protocol.Envelope{ID: "arq_msg_001", Type: protocol.TypeMessage, Room: "science", Channel: "explore",
		Payload: json.RawMessage(`{"text":"hello"}`), Metadata: json.RawMessage(`{"trace":"t1"}`)}
	ack := testutil.Request(t, sender, msg)
	require.Equal(t, protocol.TypeMessageResponse, ack.Type, "reply: %s", protocol.Encode(ack))
	assert.Equal(t, "arq_msg_001", ack.ID)
	assert.Equal(t, protocol.StatusSuccess, ack.Status)
	assert.Equal(t, map[string]any{"delivered": float64(1), "persisted": true}, testutil.Payload(t, ack),
		"memory storage with persistence on (the default) stores every message")

	got := testutil.Expect(t, peer)
	assert.Equal(t, protocol.TypeMessage, got.Type)
	assert.Equal(t, "arq_msg_001", got.ID)
	assert.Equal(t, "science", got.Room)
	assert.Equal(t, "explore", got.Channel)
	assert.Equal(t, sender.ID(), got.Sender)
	assert.Equal(t, sender.ID(), got.FromClient)
	assert.JSONEq(t, `{"text":"hello"}`, string(got.Payload))
	assert.JSONEq(t, `{"trace":"t1"}`, string(got.Metadata))

	testutil.ExpectNone(t, peer, quiet)   // the message once
	testutil.ExpectNone(t, sender, quiet) // one reply, no echo
}

func TestPingStatusAndHistoryAnswerAsSpecified(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, devEnv())
	a, b := dial(t, p.URL), dial(t, p.URL)
	testutil.Join(t, a, "science", "explore")
	testutil.Join(t, b, "science", "explore")

	t.Run("ping answers pong with the client id and the server time", func(t *testing.T) {
		ping := testutil.Command(t, a, "ping", nil)
		assert.Equal(t, true, ping["pong"])
		assert.Equal(t, a.ID(), ping["client_id"])
		ts, _ := ping["server_time"].(string)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, ts)
		at, err := time.Parse(time.RFC3339Nano, ts)
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), at, time.Minute)
	})

	t.Run("status reports version, connections, rooms, storage and profile", func(t *testing.T) {
		st := testutil.Command(t, a, "status", nil)
		assert.Equal(t, testutil.BinaryVersion, st["version"])
		assert.Equal(t, "dev", st["profile"])
		assert.EqualValues(t, 2, st["connections"])
		assert.EqualValues(t, 1, st["rooms"])
		assert.EqualValues(t, 1, st["channels"])
		assert.GreaterOrEqual(t, st["uptime_seconds"], 0.0)
		storage, ok := st["storage"].(map[string]any)
		require.True(t, ok, "status.storage: %v", st["storage"])
		assert.Equal(t, "memory", storage["backend"])
		assert.Equal(t, "degraded", storage["mode"])
		assert.Equal(t, false, storage["degraded"])
		assert.Contains(t, storage, "last_error")
	})

	t.Run("history returns the newest messages oldest first", func(t *testing.T) {
		var ids []string
		for i := range 5 {
			env := &protocol.Envelope{Type: protocol.TypeMessage, Room: "science", Channel: "explore",
				Payload: protocol.Object(map[string]int{"n": i})}
			ack := testutil.Request(t, a, env)
			require.Equal(t, protocol.TypeMessageResponse, ack.Type, "reply: %s", protocol.Encode(ack))
			ids = append(ids, env.ID)
		}
		for range ids {
			testutil.Expect(t, b)
		}
		r := testutil.Request(t, b, &protocol.Envelope{Type: protocol.TypeCommand, Command: "history",
			Args: protocol.Object(map[string]any{"room": "science", "channel": "explore", "limit": 3})})
		require.Equal(t, protocol.StatusSuccess, r.Status, "history reply: %s", protocol.Encode(r))
		h := data(t, r)
		assert.Equal(t, true, h["complete"])
		msgs, _ := h["messages"].([]any)
		var got []string
		for _, m := range msgs {
			got = append(got, m.(map[string]any)["id"].(string))
		}
		assert.Equal(t, ids[2:], got)
	})

	testutil.ExpectNone(t, a, quiet)
}

func TestOpsEndpointsAnswerOnTheWebSocketPort(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, devEnv())
	require.Equal(t, p.Addr, p.HTTPAddr, "ops share the WebSocket port by default")
	c := dial(t, p.URL)
	testutil.Join(t, c, "science", "explore")

	t.Run("readyz is 200 with the SPEC body", func(t *testing.T) {
		for _, path := range []string{"/readyz", "/ready"} {
			code, h, body := p.Get(t, path)
			assert.Equal(t, http.StatusOK, code, path)
			assert.Contains(t, h.Get("Content-Type"), "application/json", path)
			assert.JSONEq(t, `{"status":"ready","storage":"ok","draining":false}`, body, path)
		}
	})

	t.Run("livez is 200 ok", func(t *testing.T) {
		for _, path := range []string{"/livez", "/health"} {
			code, _, body := p.Get(t, path)
			assert.Equal(t, http.StatusOK, code, path)
			assert.JSONEq(t, `{"status":"ok"}`, body, path)
		}
	})

	t.Run("metrics is Prometheus text with the connection gauge", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/metrics/prometheus"} {
			code, h, body := p.Get(t, path)
			assert.Equal(t, http.StatusOK, code, path)
			assert.Contains(t, h.Get("Content-Type"), "text/plain", path)
			assert.Contains(t, body, "# TYPE arqonbus_connections_active gauge", path)
			assert.Contains(t, body, "\narqonbus_connections_active 1\n", path)
			assert.Contains(t, body, "arqonbus_build_info{", path)
		}
	})

	t.Run("version names the service, build and protocol", func(t *testing.T) {
		code, _, body := p.Get(t, "/version")
		assert.Equal(t, http.StatusOK, code)
		v := decodeJSON(t, body)
		assert.Equal(t, "arqonbus", v["service"])
		assert.Equal(t, testutil.BinaryVersion, v["version"])
		assert.Equal(t, testutil.BinaryCommit, v["commit"])
		assert.True(t, strings.HasPrefix(v["go"].(string), "go"), "go: %v", v["go"])
		assert.Equal(t, "1.0", v["protocol"])
	})

	t.Run("status is the status command as JSON", func(t *testing.T) {
		code, _, body := p.Get(t, "/status")
		assert.Equal(t, http.StatusOK, code)
		st := decodeJSON(t, body)
		assert.Equal(t, testutil.BinaryVersion, st["version"])
		assert.EqualValues(t, 1, st["connections"])
		assert.Equal(t, "dev", st["profile"])
	})
}

func TestOpsEndpointsMoveToTheirOwnPortWithHTTPPort(t *testing.T) {
	t.Parallel()
	opsPort := testutil.FreePort(t)
	p := testutil.RunBinary(t, devEnv("ARQONBUS_HTTP_PORT="+port(opsPort)))
	require.Equal(t, "127.0.0.1:"+port(opsPort), p.HTTPAddr)
	require.NotEqual(t, p.Addr, p.HTTPAddr)

	code, _, body := p.Get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready","storage":"ok","draining":false}`, body)

	code, _, _ = testutil.HTTPGet(t, "http://"+p.Addr+"/readyz")
	assert.Equal(t, http.StatusNotFound, code, "the WebSocket port serves no ops endpoint")
	c := dial(t, p.URL)
	testutil.Command(t, c, "ping", nil)
}
