package regression

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// secret is the HMAC key of the auth tests: 32 bytes, as staging and prod
// demand.
const secret = "regression-secret-0123456789abcd"

// quiet is how long a test listens to prove that no (further) frame comes.
const quiet = 300 * time.Millisecond

// timestampPattern is the one output form of every timestamp (SPEC §1):
// RFC 3339, UTC with Z, exactly six fractional digits.
var timestampPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

// fromEnviron loads a configuration the way the entry point does, from
// ARQONBUS_* variables, and makes the test server use it on 127.0.0.1 with
// a free port.
func fromEnviron(t testing.TB, environ ...string) testutil.Option {
	t.Helper()
	cfg, err := config.LoadEnviron(environ, nil)
	require.NoError(t, err, "load %v", environ)
	return testutil.WithConfig(func(c *config.Config) {
		*c = *cfg
		c.Host, c.Port = "127.0.0.1", 0
	})
}

// deadRedisURL returns a Redis URL on a loopback port nobody listens on:
// connections are refused at once.
func deadRedisURL(t testing.TB, userinfo string) string {
	t.Helper()
	return "redis://" + userinfo + "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t)) + "/0"
}

// signHS256 builds a compact JWT with exactly the given header and claims,
// signed with HMAC-SHA256, so a test can put any alg in the header.
func signHS256(t testing.TB, key string, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// refusedHandshake dials with token and requires the handshake to be
// refused; it returns the refusal.
func refusedHandshake(t testing.TB, s *testutil.Server, token string) *client.HandshakeError {
	t.Helper()
	c, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: token})
	if err == nil {
		_ = c.Close()
		t.Fatalf("the handshake was accepted, want it refused")
	}
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	return he
}

// ---- raw WebSocket client ------------------------------------------------

// rawConn is a WebSocket client that keeps every server frame as the bytes
// sent, for assertions on the exact wire form (timestamps, reply counts,
// leaked text). A reader goroutine queues frames so waits are channel
// waits with deadlines.
type rawConn struct {
	t       testing.TB
	ws      *websocket.Conn
	id      string // client id from the welcome
	welcome []byte

	frames    chan []byte
	stop      chan struct{}
	done      chan struct{}
	closeCode int // valid after done
	closeOnce sync.Once
}

func dialRaw(t testing.TB, url string, header http.Header) *rawConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testutil.Timeout}
	ws, resp, err := d.DialContext(testutil.Ctx(t), url, header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err, "dial %s", url)
	r := &rawConn{t: t, ws: ws, frames: make(chan []byte, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	_ = ws.SetReadDeadline(time.Now().Add(testutil.Timeout))
	_, r.welcome, err = ws.ReadMessage()
	require.NoError(t, err, "read the welcome")
	_ = ws.SetReadDeadline(time.Time{})
	var w struct {
		Payload struct {
			ClientID string `json:"client_id"`
		} `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(r.welcome, &w), "welcome %s", r.welcome)
	r.id = w.Payload.ClientID
	go r.read()
	t.Cleanup(r.close)
	return r
}

func (r *rawConn) read() {
	defer close(r.done)
	for {
		_, data, err := r.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				r.closeCode = ce.Code
			}
			return
		}
		select {
		case r.frames <- data:
		case <-r.stop:
			return
		}
	}
}

func (r *rawConn) close() {
	r.closeOnce.Do(func() {
		_ = r.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		select {
		case <-r.done:
		case <-time.After(time.Second):
		}
		close(r.stop)
		_ = r.ws.Close()
		<-r.done
	})
}

// send writes one text frame.
func (r *rawConn) send(frame string) {
	r.t.Helper()
	require.NoError(r.t, r.ws.WriteMessage(websocket.TextMessage, []byte(frame)))
}

// sendBinary writes one binary frame.
func (r *rawConn) sendBinary(frame []byte) {
	r.t.Helper()
	require.NoError(r.t, r.ws.WriteMessage(websocket.BinaryMessage, frame))
}

// next returns the next frame, failing after testutil.Timeout.
func (r *rawConn) next() []byte {
	r.t.Helper()
	select {
	case f := <-r.frames:
		return f
	case <-r.done:
		select {
		case f := <-r.frames:
			return f
		default:
		}
		r.t.Fatalf("connection closed (code %d) while a frame was expected", r.closeCode)
	case <-time.After(testutil.Timeout):
		r.t.Fatalf("no frame within %s", testutil.Timeout)
	}
	return nil
}

// nextObj returns the next frame decoded as a JSON object.
func (r *rawConn) nextObj() (map[string]any, []byte) {
	r.t.Helper()
	f := r.next()
	return obj(r.t, f), f
}

// roundTrip sends frame and returns its reply, decoded and raw.
func (r *rawConn) roundTrip(frame string) (map[string]any, []byte) {
	r.t.Helper()
	r.send(frame)
	return r.nextObj()
}

// drain collects frames until none arrives for quiet, failing if the
// connection ends meanwhile: frames that stopped because the socket died
// are not "all there was".
func (r *rawConn) drain() [][]byte {
	r.t.Helper()
	var out [][]byte
	for {
		select {
		case f := <-r.frames:
			out = append(out, f)
		case <-r.done:
			r.t.Fatalf("connection closed (code %d) while draining, after %d frames", r.closeCode, len(out))
		case <-time.After(quiet):
			r.requireOpen("draining")
			return out
		}
	}
}

// expectQuiet fails unless no frame arrives within quiet and the
// connection is still open then: a closed socket is quiet too, and proves
// nothing.
func (r *rawConn) expectQuiet() {
	r.t.Helper()
	select {
	case f := <-r.frames:
		r.t.Fatalf("expected no frame, got %s", f)
	case <-r.done:
		r.t.Fatalf("connection closed (code %d) while it was expected to stay open and quiet", r.closeCode)
	case <-time.After(quiet):
		r.requireOpen("staying quiet")
	}
}

// requireOpen fails if the connection has ended.
func (r *rawConn) requireOpen(while string) {
	r.t.Helper()
	select {
	case <-r.done:
		r.t.Fatalf("connection closed (code %d) while %s", r.closeCode, while)
	default:
	}
}

// obj decodes a JSON object.
func obj(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "decode %s", raw)
	return m
}

// field walks nested objects: field(m, "payload", "data", "storage").
func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = o[p]
	}
	return cur
}

// ---- the entry point in-process ---------------------------------------------

// appRunTimeout bounds an app.Run that should end by itself.
const appRunTimeout = 10 * time.Second

// runApp runs one arqonbus command line in-process (app.Run, the whole
// program main calls) with exactly environ as its environment, and returns
// its exit status and output. A run that does not end within appRunTimeout
// is stopped and fails the test.
func runApp(t testing.TB, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut testutil.LogBuffer // written by the run, read by the test
	ctx, cancel := context.WithTimeout(context.Background(), appRunTimeout)
	defer cancel()
	code = app.Run(ctx, app.Env{Args: args, Environ: environ, Stdout: &out, Stderr: &errOut})
	if ctx.Err() != nil {
		t.Fatalf("arqonbus %s did not end by itself within %s\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), appRunTimeout, out.String(), errOut.String())
	}
	return code, out.String(), errOut.String()
}

// appProc is app.Run serving in the background until its context ends.
type appProc struct {
	stdout, stderr testutil.LogBuffer
	cancel         context.CancelFunc
	exited         chan struct{}
	code           int // valid after exited
	// Addr is the WebSocket and ops address from the "listening" line.
	Addr string
}

var listeningLine = regexp.MustCompile(`arqonbus listening on (\S+) \(ops on ([^,)]+)`)

// startApp runs `arqonbus args...` in-process with environ and waits for its
// "listening" line. When the test ends its context is canceled and it must
// return within the shutdown bound.
func startApp(t testing.TB, environ []string, args ...string) *appProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &appProc{cancel: cancel, exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		p.code = app.Run(ctx, app.Env{Args: args, Environ: environ, Stdout: &p.stdout, Stderr: &p.stderr})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("app.Run did not return within 15s of its context ending")
		}
		if t.Failed() {
			t.Logf("arqonbus stdout:\n%s\narqonbus stderr:\n%s", p.stdout.String(), p.stderr.String())
		}
	})
	testutil.Eventually(t, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("arqonbus exited with status %d before listening\nstderr:\n%s", p.code, p.stderr.String())
		default:
		}
		m := listeningLine.FindStringSubmatch(p.stdout.String())
		if m == nil {
			return false
		}
		p.Addr = m[1]
		return true
	}, 10*time.Second, "the listening line")
	return p
}

// stop cancels the run and returns its exit status.
func (p *appProc) stop(t testing.TB) int {
	t.Helper()
	p.cancel()
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("app.Run did not return within 15s of its context ending")
	}
	return p.code
}

// get fetches an ops endpoint of the running app.
func (p *appProc) get(t testing.TB, path string) (int, string) {
	t.Helper()
	code, _, body := testutil.HTTPGet(t, "http://"+p.Addr+path)
	return code, body
}

// portFree reports whether addr can be bound now.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
