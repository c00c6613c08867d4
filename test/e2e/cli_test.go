//go:build e2e

package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestVersionPrintsTheBuildVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := testutil.RunBinaryExit(t, nil, "version")
	assert.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.True(t, strings.HasPrefix(stdout, "arqonbus "+testutil.BinaryVersion+" "), "stdout: %q", stdout)
	assert.Contains(t, stdout, "commit "+testutil.BinaryCommit)
	assert.Contains(t, stdout, "protocol 1.0")
}

func TestSubcommandMistakesExitWithStatus2AndUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown subcommand", []string{"launch"}, `unknown command "launch"`},
		{"config without print", []string{"config"}, "usage: arqonbus config print"},
		{"a stray argument to serve", []string{"serve", "extra"}, "unexpected arguments"},
		{"an unknown flag", []string{"serve", "--no-such-flag"}, "no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := testutil.RunBinaryExit(t, devEnv(), tc.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.want)
			assert.NotContains(t, stdout, "listening")
		})
	}
}

func TestAHelpRequestPrintsHelpAndExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"serve", "--help"}, {"preflight", "--help"},
		{"config", "--help"}, {"config", "print", "--help"}, {"token", "--help"}, {"token", "check", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, _ := testutil.RunBinaryExit(t, nil, args...)
			assert.Equal(t, 0, code, "a help request is not a configuration problem")
			assert.True(t, strings.Contains(stdout, "usage:") || strings.Contains(stdout, "--server-port (ARQONBUS_SERVER_PORT"),
				"help on stdout")
		})
	}
}

// ---- arqon, the client CLI ------------------------------------------------

// ctrlCBound is how soon arqon must exit after SIGINT: "at once" to a user,
// with room for a loaded host.
const ctrlCBound = testutil.ArqonInterruptBound

func TestArqonHelpGoesToStdoutAndExitsZeroWithoutConnecting(t *testing.T) {
	t.Parallel()
	url, dials := testutil.CountingListener(t)
	env := []string{"ARQON_URL=" + url}
	cases := [][]string{{"--help"}, {"-h"}, {"help"}}
	for _, sub := range []string{"tail", "publish", "command", "status"} {
		cases = append(cases, []string{sub, "--help"})
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := testutil.RunArqon(t, env, args...)
			assert.Equal(t, 0, code)
			assert.Empty(t, stderr)
			for _, want := range []string{"usage: arqon", "ws://127.0.0.1:9100/ws", "ARQON_URL", "ARQON_TOKEN"} {
				assert.Contains(t, stdout, want)
			}
		})
	}
	assert.Zero(t, dials.Load(), "a help request connects to nothing")
}

func TestArqonUsageMistakesExitTwoWithUsageOnStderr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"an unknown command", []string{"launch"}},
		{"tail without a pair", []string{"tail"}},
		{"an unknown flag", []string{"--no-such-flag", "status"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := testutil.RunArqon(t, nil, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "usage: arqon")
		})
	}
}

func TestArqonTailSaysItJoinedAndStopsAtOnceOnCtrlC(t *testing.T) {
	t.Parallel()
	srv := testutil.RunBinary(t, devEnv())
	var stdout testutil.LogBuffer
	tail := testutil.StartArqon(t, &stdout, []string{"ARQON_URL=" + srv.URL}, "tail", "science:explore")
	pair, url := tail.WaitJoined(t)
	assert.Equal(t, "science:explore", pair)
	assert.Equal(t, srv.URL, url)

	code, ack, stderr := testutil.RunArqon(t, []string{"ARQON_URL=" + srv.URL}, "publish", "science:explore", `{"text":"hello"}`)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, ack, `"delivered":1`, "the tail was a member when it said so")
	testutil.Eventually(t, func() bool { return strings.Contains(stdout.String(), `"text":"hello"`) }, testutil.Timeout,
		"the message on tail's stdout")

	require.NoError(t, tail.Process().Signal(syscall.SIGINT))
	assert.Equal(t, 0, tail.WaitExit(t, ctrlCBound), "Ctrl-C is how tail ends")
}

// A tail whose stdout nobody reads (`arqon tail … | less`, less paused)
// blocks in a write that the signal cannot interrupt; Ctrl-C still ends it.
func TestArqonTailStopsAtOnceOnCtrlCWhileItsOutputIsStalled(t *testing.T) {
	t.Parallel()
	srv := testutil.RunBinary(t, devEnv())
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() }) // never read until then
	tail := testutil.StartArqon(t, w, []string{"ARQON_URL=" + srv.URL}, "tail", "flood:stalled")
	_ = w.Close()
	tail.WaitJoined(t)

	// Far more than a pipe holds (64 KiB on Linux).
	pub := dial(t, srv.URL)
	payload := map[string]string{"text": strings.Repeat("x", 1000)}
	for range 1000 {
		ack, err := pub.Publish(testutil.Ctx(t), "flood", "stalled", payload)
		require.NoError(t, err)
		require.Equal(t, 1, ack.Delivered)
	}
	tail.WaitBlockedWriting(t)

	require.NoError(t, tail.Process().Signal(syscall.SIGINT))
	assert.Equal(t, 0, tail.WaitExit(t, ctrlCBound))
}

// ---- arqonbus: what a newcomer reads -------------------------------------

func TestTheStartupLineOfAHealthyDevNodeReadsHealthy(t *testing.T) {
	t.Parallel()
	srv := testutil.RunBinary(t, devEnv())
	line := strings.SplitN(srv.Stdout(), "\n", 2)[0]
	assert.Contains(t, line, "profile dev, storage memory: healthy)")
	assert.NotContains(t, line, "degraded")
}

func TestPreflightPrintsTheUnknownVariableWarningsServeLogs(t *testing.T) {
	t.Parallel()
	const want = "ARQONBUS_SERVR_HOST is not a known variable and is ignored; did you mean ARQONBUS_SERVER_HOST?"
	code, stdout, stderr := testutil.RunBinaryExit(t, devEnv("ARQONBUS_SERVR_HOST=0.0.0.0"), "preflight")
	assert.Equal(t, 0, code, "a warning is not a problem")
	assert.Contains(t, stdout, "preflight ok")
	assert.Contains(t, stderr, want)
	assert.NotContains(t, stderr, "0.0.0.0", "values are never repeated")

	srv := testutil.RunBinary(t, devEnv("ARQONBUS_SERVR_HOST=0.0.0.0"))
	srv.WaitStderr(t, want, testutil.Timeout) // the same words as serve
}
