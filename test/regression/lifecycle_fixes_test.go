package regression

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRegression_ASignalRightAfterTheListeningLineStopsGracefully: the server
// printed "arqonbus listening on …" before it asked for SIGTERM/SIGINT, so
// a supervisor that signalled as soon as it saw the line killed the process
// (no drain, no 1001, no exit 0) in most runs. Signals are now caught before
// the first byte of output (SPEC §10). The signal goes to this very process:
// if the fix were reverted, the default action would kill the test binary.
func TestRegression_ASignalRightAfterTheListeningLineStopsGracefully(t *testing.T) {
	p := startApp(t, []string{"ARQONBUS_SERVER_PORT=0"})
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("SIGTERM did not stop the server")
	}
	assert.Equal(t, 0, p.code)
	assert.Contains(t, p.stderr.String(), "signal received; shutting down")
}

// TestRegression_HelpFlagsPrintHelpAndExitZero: `arqonbus -h`, `--help` and
// `arqonbus serve --help` were routed to serve, where the flag parser's
// help request became a configuration error with exit status 2. Asking for
// help now prints it and exits 0.
func TestRegression_HelpFlagsPrintHelpAndExitZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"serve", "--help"}} {
		code, stdout, stderr := runApp(t, nil, args...)
		assert.Equal(t, 0, code, "arqonbus %s: %s", strings.Join(args, " "), stderr)
		assert.NotEmpty(t, stdout, "arqonbus %s prints help", strings.Join(args, " "))
	}
}

// TestRegression_StrictPreflightNamesTheMissingKeyInTheSameRun: in prod with
// nothing set, the preflight listed ARQONBUS_ENABLE_AUTH but checked the key
// only once auth was on, so an operator learned about
// ARQONBUS_AUTH_JWT_SECRET on a second failed start. The strict preflight
// collects every problem in one run (SPEC §6).
func TestRegression_StrictPreflightNamesTheMissingKeyInTheSameRun(t *testing.T) {
	code, _, stderr := runApp(t, []string{"ARQONBUS_ENVIRONMENT=prod"}, "preflight")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "ARQONBUS_ENABLE_AUTH must be true")
	assert.Contains(t, stderr, "ARQONBUS_AUTH_JWT_SECRET")
}

// TestRegression_APortInUseIsAStartErrorNotACrash: when the listener could
// not bind, the cleanup of the half-built server ran through a pointer the
// error return had just set to nil, and the process died with a nil-pointer
// panic instead of saying which address was taken.
func TestRegression_APortInUseIsAStartErrorNotACrash(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	code, _, stderr := runApp(t, []string{"ARQONBUS_SERVER_PORT=" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "address already in use")
	assert.NotContains(t, stderr, "panic")
}
