//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// devEnv is a dev profile on 127.0.0.1 with a free port, plus extra
// variables (a later duplicate wins, as in exec.Cmd.Env).
func devEnv(extra ...string) []string {
	return append([]string{
		"ARQONBUS_ENVIRONMENT=dev",
		"ARQONBUS_SERVER_HOST=127.0.0.1",
		"ARQONBUS_SERVER_PORT=0",
	}, extra...)
}

// port formats a port for an environment variable.
func port(p int) string { return strconv.Itoa(p) }

// assertPortFree binds 127.0.0.1:port and releases it, proving nothing
// holds it.
func assertPortFree(t *testing.T, p int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port(p)))
	if err != nil {
		t.Errorf("port %d is not free: %v", p, err)
		return
	}
	_ = l.Close()
}

// dial connects a client and closes it when the test ends.
func dial(t *testing.T, url string, o ...client.Options) *client.Client {
	t.Helper()
	return testutil.DialURL(t, url, o...)
}

// dialToken connects with a bearer token.
func dialToken(t *testing.T, url, token string) *client.Client {
	t.Helper()
	return dial(t, url, client.Options{Token: token})
}

// handshake tries to connect and returns the refusal, failing the test when
// the server accepts.
func handshake(t *testing.T, url string, o client.Options) *client.HandshakeError {
	t.Helper()
	c, err := client.Dial(testutil.Ctx(t), url, o)
	if err == nil {
		_ = c.Close()
		t.Fatalf("handshake accepted, want a refusal")
	}
	he, ok := err.(*client.HandshakeError)
	if !ok {
		t.Fatalf("handshake failed without an HTTP answer: %v", err)
	}
	return he
}

// rawConn is a WebSocket connection that reads only when told to, used as
// a consumer that falls behind.
type rawConn struct {
	*websocket.Conn
}

// dialRaw connects a rawConn and reads the welcome. A rcvbuf above zero
// pins the socket's kernel receive buffer to that many bytes, so the server
// cannot park a backlog in the socket; reading through such a small window
// is slow (delayed acknowledgements), so only consumers that never read
// should use it.
func dialRaw(t *testing.T, url string, rcvbuf int) *rawConn {
	t.Helper()
	d := &websocket.Dialer{
		HandshakeTimeout: testutil.Timeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := nc.(*net.TCPConn); ok && rcvbuf > 0 {
				_ = tc.SetReadBuffer(rcvbuf)
			}
			return nc, nil
		},
	}
	ws, resp, err := d.DialContext(testutil.Ctx(t), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	c := &rawConn{ws}
	welcome := c.read(t, testutil.Timeout)
	if welcome.Sender != protocol.ServerSender {
		t.Fatalf("first frame is not the welcome: %+v", welcome)
	}
	return c
}

// read reads one frame and decodes it.
func (c *rawConn) read(t *testing.T, timeout time.Duration) *protocol.Envelope {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	env, err := protocol.Decode(data, protocol.Limits{MaxDepth: 64, ServerFrames: true})
	if err != nil {
		t.Fatalf("decode frame %s: %v", data, err)
	}
	return env
}

// join joins room:channel and reads the reply.
func (c *rawConn) join(t *testing.T, room, channel string) {
	t.Helper()
	env := &protocol.Envelope{ID: "join_1", Type: protocol.TypeCommand, Command: "join_channel",
		Args: protocol.Object(map[string]string{"room": room, "channel": channel})}
	_ = c.SetWriteDeadline(time.Now().Add(testutil.Timeout))
	if err := c.WriteMessage(websocket.TextMessage, protocol.Encode(env)); err != nil {
		t.Fatalf("send join: %v", err)
	}
	r := c.read(t, testutil.Timeout)
	if r.Type != protocol.TypeResponse || r.Status != protocol.StatusSuccess {
		t.Fatalf("join %s:%s: %s", room, channel, protocol.Encode(r))
	}
}

// data decodes a command reply's payload.data.
func data(t *testing.T, r *protocol.Envelope) map[string]any {
	t.Helper()
	var body struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.Payload, &body); err != nil {
		t.Fatalf("decode reply payload %s: %v", r.Payload, err)
	}
	return body.Data
}

// decodeJSON decodes an HTTP body into a map.
func decodeJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// signals names the shutdown signals for table-driven tests.
var signals = map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}
