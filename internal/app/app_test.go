package app

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := Run(ctx, Env{Args: args, Environ: environ, Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestVersionPrintsTheBuild(t *testing.T) {
	code, out, _ := run(t, nil, "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "arqonbus ")
	assert.Contains(t, out, "protocol 1.0")
}

func TestUnknownSubcommandExits2(t *testing.T) {
	code, _, errOut := run(t, nil, "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
}

func TestProductionWithoutSettingsNamesEveryMissingVariable(t *testing.T) {
	code, _, errOut := run(t, []string{"ARQONBUS_ENVIRONMENT=production"})
	assert.Equal(t, 2, code)
	for _, v := range []string{"ARQONBUS_SERVER_HOST", "ARQONBUS_SERVER_PORT", "ARQONBUS_STORAGE_MODE", "ARQONBUS_ENABLE_AUTH"} {
		assert.Contains(t, errOut, v)
	}
}

func TestUnknownProfileNamesTheAcceptedOnes(t *testing.T) {
	code, _, errOut := run(t, []string{"ARQONBUS_ENVIRONMENT=qa"})
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `"qa"`)
	for _, p := range []string{"dev", "staging", "prod"} {
		assert.Contains(t, errOut, p)
	}
}

func TestStrictStorageWithRedisDownRefusesToStartInEveryProfile(t *testing.T) {
	code, _, errOut := run(t, []string{
		"ARQONBUS_STORAGE_MODE=strict", "ARQONBUS_STORAGE_BACKEND=redis",
		"ARQONBUS_REDIS_URL=redis://:hunter2@127.0.0.1:1/0", "ARQONBUS_REDIS_TIMEOUT=300ms",
	}, "preflight")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "ARQONBUS_REDIS_URL")
	assert.NotContains(t, errOut, "hunter2")
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	code, out, _ := run(t, []string{
		"ARQONBUS_AUTH_JWT_SECRET=0123456789abcdef0123456789abcdef",
		"ARQONBUS_REDIS_URL=redis://user:hunter2@redis:6379/0",
	}, "config", "print")
	assert.Equal(t, 0, code)
	assert.NotContains(t, out, "0123456789abcdef")
	assert.NotContains(t, out, "hunter2")
	assert.Contains(t, out, "ARQONBUS_SERVER_PORT=9100")
}

func TestTokenMintsAndChecks(t *testing.T) {
	env := []string{"ARQONBUS_AUTH_JWT_SECRET=0123456789abcdef0123456789abcdef", "ARQONBUS_ENABLE_AUTH=true"}
	code, tok, errOut := run(t, env, "token", "--sub", "alice", "--tenant", "acme", "--role", "admin", "--ttl", "5m")
	require.Equal(t, 0, code, errOut)
	tok = strings.TrimSpace(tok)
	assert.Equal(t, 2, strings.Count(tok, "."))
	code, out, _ := run(t, env, "token", "check", tok)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "alice")
	code, _, _ = run(t, env, "token", "check", tok+"x")
	assert.Equal(t, 1, code)
}

func TestServeStopsOnContextAndFreesThePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	var out, errOut lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, Env{Args: []string{"--server-port", itoa(port)}, Stdout: &out, Stderr: &errOut})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
		if err == nil {
			_ = c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "server never listened: %s", errOut.String())
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
	require.NoError(t, err, "the port is free again")
	_ = ln.Close()
}

func itoa(n int) string { return strconv.Itoa(n) }

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A port already in use is a start error, not a crash: the cleanup after a
// failed listen once dereferenced a server that the error return had
// already set to nil.
func TestStartOnAPortInUseReturnsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	code, _, errOut := run(t, nil, "--server-port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "address already in use")
}

func TestHelpRequestsOfSubcommandsGoToStdoutAndExitZero(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--help"}, "usage: arqonbus token"},
		{[]string{"token", "-h"}, "usage: arqonbus token"},
		{[]string{"token", "check", "--help"}, "usage: arqonbus token check"},
		{[]string{"config", "--help"}, "usage: arqonbus config print"},
		{[]string{"-help"}, "arqonbus preflight"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, nil, tc.args...)
			assert.Equal(t, 0, code, errOut)
			assert.Contains(t, out, tc.want)
			assert.Empty(t, errOut)
		})
	}
}

func TestTokenMistakesStillExit2WithUsageOnStderr(t *testing.T) {
	for _, args := range [][]string{{"token", "--no-such-flag"}, {"token", "stray"}, {"token", "check"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := run(t, nil, args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, "usage: arqonbus token")
		})
	}
}

func TestPreflightLogsUnknownVariablesAsServeDoes(t *testing.T) {
	environ := []string{"ARQONBUS_SERVER_PROT=9200"}
	code, out, errOut := run(t, environ, "preflight")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "preflight ok")
	want := "ARQONBUS_SERVER_PROT is not a known variable and is ignored; did you mean ARQONBUS_SERVER_PORT?"
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	require.Len(t, lines, 1, "one line per warning: %q", errOut)
	assert.Contains(t, lines[0], "level=WARN")
	assert.Contains(t, lines[0], want)
}

func TestStorageSummaryPutsTheStateFirst(t *testing.T) {
	for _, tc := range []struct {
		name        string
		persistence bool
		h           store.Health
		want        string
	}{
		{"a dev node", true, store.Health{Backend: "memory", Mode: "degraded", State: "ok"}, "storage memory: healthy"},
		{"redis in degraded mode", true, store.Health{Backend: "redis", Mode: "degraded", State: "ok"},
			"storage redis: healthy; mode degraded (falls back to memory if Redis fails)"},
		{"redis in strict mode", true, store.Health{Backend: "redis", Mode: "strict", State: "ok"},
			"storage redis: healthy; mode strict (refuses writes while Redis is down)"},
		{"redis down at start", true, store.Health{Backend: "redis", Mode: "degraded", State: "degraded"},
			"storage redis: DEGRADED, serving from memory; mode degraded (falls back to memory if Redis fails)"},
		{"persistence off", false, store.Health{Backend: "memory", Mode: "degraded", State: "ok"},
			"storage off (ARQONBUS_ENABLE_PERSISTENCE=false)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, storageSummary(tc.persistence, tc.h))
		})
	}
}
