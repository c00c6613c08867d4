package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runArqon(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpGoesToStdoutExitsZeroAndDialsNothing(t *testing.T) {
	url, dials := testutil.CountingListener(t)
	env := map[string]string{"ARQON_URL": url}
	cases := [][]string{{"--help"}, {"-h"}, {"help"}}
	for _, sc := range subcommands {
		cases = append(cases, []string{sc.name, "--help"}, []string{sc.name, "-h"}, []string{"help", sc.name})
	}
	cases = append(cases, []string{"publish", "science:explore", "--help"})
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runArqon(t, env, args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, errOut)
			assert.True(t, strings.HasPrefix(out, "usage: arqon "), "usage on stdout: %q", out)
			for _, want := range []string{"ws://127.0.0.1:9100/ws", "ARQON_URL", "ARQON_TOKEN", "Ctrl-C"} {
				assert.Contains(t, out, want)
			}
		})
	}
	assert.Zero(t, dials.Load(), "a help request connects to nothing")
}

func TestTheHelpListsEverySubcommand(t *testing.T) {
	_, out, _ := runArqon(t, nil, "--help")
	for _, sc := range subcommands {
		assert.Contains(t, out, "\n  "+sc.synopsis()+" ")
	}
}

func TestUsageMistakesExitTwoWithUsageOnStderrAndDialNothing(t *testing.T) {
	url, dials := testutil.CountingListener(t)
	env := map[string]string{"ARQON_URL": url}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: arqon [flags] COMMAND"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"tail"}, "usage: arqon [flags] tail ROOM:CHANNEL"},
		{[]string{"tail", "nocolon"}, `want ROOM:CHANNEL, got "nocolon"`},
		{[]string{"tail", "a:b", "extra"}, "takes ROOM:CHANNEL, got 2 argument(s)"},
		{[]string{"publish", "a:b", "[1]"}, "the payload must be a JSON object"},
		{[]string{"command"}, "usage: arqon [flags] command NAME [JSON]"},
		{[]string{"command", "history", "nope"}, "the args must be a JSON object"},
		{[]string{"status", "now"}, "takes no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runArqon(t, env, tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.want)
			assert.Contains(t, errOut, "usage: arqon")
		})
	}
	assert.Zero(t, dials.Load(), "a wrong command line connects to nothing")
}

func TestAwaitExitReturnsRunsStatus(t *testing.T) {
	status := make(chan int, 1)
	status <- exitFailure
	stopped := false
	code := awaitExit(context.Background(), func() { stopped = true }, status, time.Hour)
	assert.Equal(t, exitFailure, code)
	assert.True(t, stopped, "the signal handler is released")
}

// A run that does not finish after the signal (a write to a stalled stdout)
// cannot keep the process: it ends with exitOK once the grace has passed.
func TestAwaitExitEndsAStuckRunAfterTheGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	const grace = 50 * time.Millisecond
	began := time.Now()
	code := awaitExit(ctx, func() {}, make(chan int), grace)
	assert.Equal(t, exitOK, code)
	assert.GreaterOrEqual(t, time.Since(began), grace)
	assert.Less(t, time.Since(began), time.Second)
}

// A run that finishes within the grace keeps its own status: an interrupted
// publish is a failure, not a success.
func TestAwaitExitKeepsTheStatusOfARunThatFinishesInTime(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	status := make(chan int, 1)
	status <- exitFailure
	assert.Equal(t, exitFailure, awaitExit(ctx, func() {}, status, time.Hour))
}

func TestDisplayURLMasksCredentials(t *testing.T) {
	assert.Equal(t, "ws://127.0.0.1:9100/ws", displayURL("ws://127.0.0.1:9100/ws"))
	assert.Equal(t, "ws://bus.example/ws?xxxxx", displayURL("ws://bus.example/ws?token=secret"))
	assert.Equal(t, "ws://u:xxxxx@bus.example/ws", displayURL("ws://u:secret@bus.example/ws"))
}
