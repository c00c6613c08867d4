package regression

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The defects of a newcomer's first hour with the two binaries: help that
// exited 2 or dialled, a tail that never said it was ready and could not be
// stopped, warnings and refusals nobody saw, and a startup line that read
// like a fault.

// TestRegression_ArqonHelpGoesToStdoutAndExitsZeroWithoutConnecting:
// `arqon --help` was a flag error (usage on stderr, exit 2), and `arqon tail
// --help` dialled the server first and failed with "connection refused",
// exit 1, when none ran: the first command a newcomer types looked broken.
// Every help request now prints usage on stdout, naming the default URL and
// ARQON_URL/ARQON_TOKEN, exits 0 and connects to nothing; a real usage
// mistake still exits 2 with usage on stderr.
func TestRegression_ArqonHelpGoesToStdoutAndExitsZeroWithoutConnecting(t *testing.T) {
	url, dials := testutil.CountingListener(t)
	env := []string{"ARQON_URL=" + url}
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"tail", "--help"}, {"publish", "--help"}, {"command", "--help"}, {"status", "--help"},
	} {
		code, stdout, stderr := testutil.RunArqon(t, env, args...)
		assert.Equal(t, 0, code, "arqon %s", strings.Join(args, " "))
		assert.Empty(t, stderr, "arqon %s", strings.Join(args, " "))
		for _, want := range []string{"usage: arqon", "ws://127.0.0.1:9100/ws", "ARQON_URL", "ARQON_TOKEN"} {
			assert.Contains(t, stdout, want, "arqon %s", strings.Join(args, " "))
		}
	}
	code, stdout, stderr := testutil.RunArqon(t, env, "tail") // control: a real mistake
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "usage: arqon")
	assert.Zero(t, dials.Load(), "neither help nor a usage mistake connects")
}

// TestRegression_ArqonTailSaysOnStderrOnceItHasJoined: `arqon tail` printed
// nothing until the first message arrived, so a newcomer could not tell a
// tail that was listening from one still connecting (or stuck), and
// publishing too early lost the message for it. It now prints "arqon:
// joined ROOM:CHANNEL on URL; Ctrl-C to stop" on stderr once the join is
// acknowledged; a message published after that line reaches it.
func TestRegression_ArqonTailSaysOnStderrOnceItHasJoined(t *testing.T) {
	s := testutil.StartServer(t)
	var stdout testutil.LogBuffer
	tail := testutil.StartArqon(t, &stdout, []string{"ARQON_URL=" + s.URL}, "tail", "science:explore")
	tail.WaitJoined(t)
	assert.Contains(t, tail.Stderr.String(), "arqon: joined science:explore on "+s.URL+"; Ctrl-C to stop\n")

	ack := testutil.Publish(t, testutil.Dial(t, s), "science", "explore", map[string]string{"text": "hello"})
	assert.Equal(t, 1, ack.Delivered, "the tail was a member when it said so")
	testutil.Eventually(t, func() bool { return strings.Contains(stdout.String(), `"text":"hello"`) },
		testutil.Timeout, "the message on tail's stdout")
}

// TestRegression_CtrlCStopsArqonTailAtOnceEvenWithItsOutputStalled: Ctrl-C
// reached `arqon tail` only between frames. Piped into a pager that had
// stopped reading (`arqon tail … | less`), tail sat in a write to stdout
// that no signal interrupts and never exited; and with deliveries piling
// up, its client's reader waited for room in a queue nobody drained, so the
// close never finished either. Ctrl-C now ends tail within a fraction of a
// second, with exit status 0, whatever it was doing.
func TestRegression_CtrlCStopsArqonTailAtOnceEvenWithItsOutputStalled(t *testing.T) {
	s := testutil.StartServer(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() }) // never read until then
	tail := testutil.StartArqon(t, w, []string{"ARQON_URL=" + s.URL}, "tail", "flood:stalled")
	_ = w.Close()
	tail.WaitJoined(t)

	pub := testutil.Dial(t, s)
	payload := map[string]string{"text": strings.Repeat("x", 1000)}
	for range 1000 { // far more than a pipe holds (64 KiB on Linux)
		require.Equal(t, 1, testutil.Publish(t, pub, "flood", "stalled", payload).Delivered)
	}
	tail.WaitBlockedWriting(t)

	require.NoError(t, tail.Process().Signal(syscall.SIGINT))
	assert.Equal(t, 0, tail.WaitExit(t, testutil.ArqonInterruptBound), "Ctrl-C is how tail ends")
}

// TestRegression_ClosingAClientWithAFullDeliveryQueueReturns: once nobody
// drained a client's delivery queue (a CLI stopped by Ctrl-C), its reader
// waited for room forever, never reached the server's close reply queued
// behind the deliveries, and Close, which waits for the reader, hung. The
// reader now drops deliveries once Close has begun.
func TestRegression_ClosingAClientWithAFullDeliveryQueueReturns(t *testing.T) {
	s := testutil.StartServer(t)
	ctx := testutil.Ctx(t)
	sub, err := client.Dial(ctx, s.URL, client.Options{IncomingBuffer: 1})
	require.NoError(t, err)
	require.NoError(t, sub.Join(ctx, "science", "explore"))
	pub := testutil.Dial(t, s)
	for range 50 { // all ahead of the close reply on the wire
		require.Equal(t, 1, testutil.Publish(t, pub, "science", "explore", map[string]int{"n": 1}).Delivered)
	}
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while the delivery queue was full")
	}
}

// TestRegression_CancelingADialEndsTheWaitForTheWelcome: Dial waited for the
// welcome frame until the context's deadline (10 s without one) even after
// the context was canceled, so Ctrl-C did nothing while arqon talked to a
// peer that upgraded but never greeted (a WebSocket server that is not
// ArqonBus). Cancellation now ends the wait at once.
func TestRegression_CancelingADialEndsTheWaitForTheWelcome(t *testing.T) {
	release := make(chan struct{})
	up := websocket.Upgrader{}
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		<-release // never greets
	}))
	t.Cleanup(peer.Close)
	t.Cleanup(func() { close(release) })

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	began := time.Now()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(peer.URL, "http")+"/ws", client.Options{})
	if err == nil {
		_ = c.Close()
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(began), 2*time.Second, "the wait ended with the cancellation")
}

// TestRegression_TokenHelpExitsZero: `arqonbus token --help` went through
// the flag parser's help request as a flag error: "flag: help requested" on
// stderr and exit 2, as if the command line were wrong. Like `serve --help`,
// it now prints the subcommand's usage and flags on stdout and exits 0;
// `token check --help` too, which used to "explain" the token "--help".
func TestRegression_TokenHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"token", "--help"}, {"token", "-h"}, {"token", "check", "--help"}} {
		code, stdout, stderr := runApp(t, nil, args...)
		assert.Equal(t, 0, code, "arqonbus %s: %s", strings.Join(args, " "), stderr)
		assert.Contains(t, stdout, "usage: arqonbus token", "arqonbus %s", strings.Join(args, " "))
		assert.Empty(t, stderr, "arqonbus %s", strings.Join(args, " "))
	}
	code, _, stderr := runApp(t, nil, "token", "--no-such-flag") // control
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "usage: arqonbus token")
}

// TestRegression_PreflightPrintsTheUnknownVariableWarnings: serve warned
// about an unknown ARQONBUS_* variable (usually a typo: the setting meant is
// silently at its default), but `arqonbus preflight`, the command run in CI
// to vet a configuration, said "preflight ok" and nothing else. It now logs
// the same warnings, one line each on stderr, in the same words (SPEC §6).
func TestRegression_PreflightPrintsTheUnknownVariableWarnings(t *testing.T) {
	environ := []string{"ARQONBUS_SERVR_HOST=0.0.0.0", "ARQONBUS_SERVER_PORT=0"}
	const want = "ARQONBUS_SERVR_HOST is not a known variable and is ignored; did you mean ARQONBUS_SERVER_HOST?"
	code, stdout, stderr := runApp(t, environ, "preflight")
	assert.Equal(t, 0, code, "a warning is not a problem")
	assert.Contains(t, stdout, "preflight ok")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Len(t, lines, 1, "one line per warning:\n%s", stderr)
	assert.Contains(t, lines[0], want)

	p := startApp(t, environ) // the same words as serve
	assert.Contains(t, p.stderr.String(), want)
}

// TestRegression_TheStartupLineOfAHealthyNodeReadsHealthy: a dev node
// announced "storage memory/degraded": "degraded" is the name of the
// storage mode (fall back to memory if Redis fails), not a state, but a
// newcomer read it as a fault on a perfectly healthy node. The line now
// gives the state first, in words ("storage memory: healthy"), and names a
// Redis mode with what it means; it still begins "arqonbus listening on
// ADDR (ops on ADDR," for the tools that parse it.
func TestRegression_TheStartupLineOfAHealthyNodeReadsHealthy(t *testing.T) {
	p := startApp(t, []string{"ARQONBUS_SERVER_PORT=0"})
	line := strings.SplitN(p.stdout.String(), "\n", 2)[0]
	assert.Regexp(t, regexp.MustCompile(`^arqonbus listening on \S+ \(ops on [^,)]+, profile dev, storage memory: healthy\)$`), line)
	assert.NotContains(t, line, "degraded")
}

// TestRegression_AnOriginRefusalIsLoggedAtWarnWithTheOrigin: a handshake
// refused for its Origin (HTTP 403) only moved
// arqonbus_connections_rejected_total{reason="origin"}, so an operator whose
// browser clients were refused found nothing in the log to tell which
// origin to allow. The refusal is now a WARN line naming the origin, and the
// counter still moves (SPEC §2).
func TestRegression_AnOriginRefusalIsLoggedAtWarnWithTheOrigin(t *testing.T) {
	s := testutil.StartServer(t)
	_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Header: http.Header{"Origin": {"https://app.example"}}})
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusForbidden, he.Status)
	testutil.Eventually(t, func() bool { return s.Logs.Contains("origin=https://app.example") }, testutil.Timeout,
		"the refusal in the log")
	line := logLine(s.Logs.String(), "origin=https://app.example")
	assert.Contains(t, line, "level=WARN")
	assert.Contains(t, line, `msg="handshake refused"`)
	assert.Equal(t, 1.0, s.Counter(t, "connections_rejected_total", "origin"))
}

// TestRegression_EveryHandshakeRefusalSaysCacheControlNoStore:
// docs/security.md promised Cache-Control: no-store on every handshake
// refusal, but the transport set only Content-Type, so a proxy was free to
// keep a 401, 403, 431 or 503 and replay it. Every refusal now says no-store.
func TestRegression_EveryHandshakeRefusalSaysCacheControlNoStore(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret), testutil.WithConfig(func(c *config.Config) {
		c.MaxConnections = 1
	}))
	valid, err := auth.Mint(secret, "HS256", auth.MintClaims{Subject: "alice", Role: auth.RoleUser, TTL: time.Hour})
	require.NoError(t, err)
	refusal := func(o client.Options) *client.HandshakeError {
		t.Helper()
		c, err := client.Dial(testutil.Ctx(t), s.URL, o)
		if err == nil {
			_ = c.Close()
			t.Fatalf("the handshake was accepted, want it refused")
		}
		var he *client.HandshakeError
		require.ErrorAs(t, err, &he)
		return he
	}
	cases := []struct {
		name   string
		opts   client.Options
		status int
	}{
		{"no token", client.Options{}, http.StatusUnauthorized},
		{"a refused token", client.Options{Token: valid + "x"}, http.StatusUnauthorized},
		{"a token over 8 KiB", client.Options{Token: strings.Repeat("a", auth.MaxTokenSize+1)}, http.StatusRequestHeaderFieldsTooLarge},
		{"a foreign origin", client.Options{Token: valid, Header: http.Header{"Origin": {"https://evil.example"}}}, http.StatusForbidden},
	}
	for _, tc := range cases {
		he := refusal(tc.opts)
		assert.Equal(t, tc.status, he.Status, tc.name)
		assert.Equal(t, "no-store", he.Headers.Get("Cache-Control"), tc.name)
	}
	testutil.Dial(t, s, client.Options{Token: valid}) // the one connection allowed
	he := refusal(client.Options{Token: valid})
	assert.Equal(t, http.StatusServiceUnavailable, he.Status, "over the connection cap")
	assert.Equal(t, "no-store", he.Headers.Get("Cache-Control"), "over the connection cap")
}

// ---- helpers -----------------------------------------------------------

// logLine returns the first line of logs containing s.
func logLine(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
