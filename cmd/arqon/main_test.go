package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/protocol"
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
		name := strings.Fields(sc.name)
		cases = append(cases, append(name, "--help"), append(name, "-h"), append([]string{"help"}, name...))
	}
	cases = append(cases, []string{"publish", "science:explore", "--help"},
		[]string{"kv", "--help"}, []string{"kv", "-h"}, []string{"help", "kv"}, []string{"kv", "set", "k", "--help"},
		[]string{"cron", "--help"}, []string{"help", "cron"}, []string{"cron", "schedule", "a:b", "--help"})
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
	requireUsageMistakes(t, []usageMistake{
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
		{[]string{"kv"}, "usage: arqon [flags] kv set|get|delete|list"},
		{[]string{"kv", "put", "k"}, `unknown command "kv put"`},
		{[]string{"help", "kv", "put"}, `unknown command "kv put"`},
		{[]string{"kv", "get"}, "takes KEY, got 0 argument(s)"},
		{[]string{"kv", "get", "a", "b"}, "takes KEY, got 2 argument(s)"},
		{[]string{"kv", "set", "k"}, "takes KEY JSON, got 1 argument(s)"},
		{[]string{"kv", "set", "k", "blue"}, "the value must be JSON"},
		{[]string{"kv", "set", "k", "null"}, "the value must be JSON other than null"},
		{[]string{"kv", "set", "k", "1", "--ttl", "0"}, "--ttl must be a whole number of at least 1"},
		{[]string{"kv", "set", "k", "1", "--ttl=soon"}, `--ttl must be a whole number of at least 1, got "soon"`},
		{[]string{"kv", "get", "k", "--ttl", "5"}, "unknown flag --ttl (kv get takes --namespace)"},
		{[]string{"kv", "get", "k", "--namespace"}, "flag --namespace needs a value"},
		{[]string{"kv", "delete", "k", "--namespace="}, "--namespace must not be empty"},
		{[]string{"kv", "list", "extra"}, "takes no arguments"},
		{[]string{"kv", "list", "--limit", "-3"}, "--limit must be a whole number of at least 1"},
		{[]string{"cron"}, "usage: arqon [flags] cron schedule|list|cancel"},
		{[]string{"cron", "start"}, `unknown command "cron start"`},
		{[]string{"cron", "schedule", "a:b"}, "takes ROOM:CHANNEL JSON, got 1 argument(s)"},
		{[]string{"cron", "schedule", "nocolon", "{}"}, `want ROOM:CHANNEL, got "nocolon"`},
		{[]string{"cron", "schedule", "a:b", "[1]"}, "the payload must be a JSON object"},
		{[]string{"cron", "schedule", "a:b", `"tick"`}, "the payload must be a JSON object"},
		{[]string{"cron", "schedule", "a:b", "{}", "--delay", "soon"}, `--delay must be a number of seconds, got "soon"`},
		{[]string{"cron", "schedule", "a:b", "{}", "--interval=-1"}, "--interval must be a number of seconds"},
		{[]string{"cron", "schedule", "a:b", "{}", "--interval", "NaN"}, "--interval must be a number of seconds"},
		{[]string{"cron", "schedule", "a:b", "{}", "--repeat", "0"}, "--repeat must be a whole number of at least 1"},
		{[]string{"cron", "schedule", "a:b", "{}", "--repeat", "1.5"}, `--repeat must be a whole number of at least 1, got "1.5"`},
		{[]string{"cron", "schedule", "a:b", "{}", "--detach"}, "unknown flag --detach"},
		{[]string{"cron", "list", "extra"}, "takes no arguments"},
		{[]string{"cron", "list", "--repeat", "2"}, `takes no arguments, got "--repeat 2"`},
		{[]string{"cron", "cancel"}, "takes JOB_ID, got 0 argument(s)"},
		{[]string{"cron", "cancel", "a", "b"}, "takes JOB_ID, got 2 argument(s)"},
	})
}

// usageMistake is a command line arqon must refuse, and what its usage
// error must say.
type usageMistake struct {
	args []string
	want string
}

// requireUsageMistakes runs each command line against a listener that
// counts dials: each must exit 2 with the usage on stderr, nothing on
// stdout, and none may connect.
func requireUsageMistakes(t *testing.T, cases []usageMistake) {
	t.Helper()
	url, dials := testutil.CountingListener(t)
	env := map[string]string{"ARQON_URL": url}
	for _, tc := range cases {
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

func TestKVHelpListsTheKVCommandsAndTheirOptions(t *testing.T) {
	_, out, _ := runArqon(t, nil, "kv", "--help")
	for _, sc := range group("kv") {
		assert.Contains(t, out, "\n  "+sc.synopsis()+" ")
	}
	assert.NotContains(t, out, "publish ROOM:CHANNEL", "only the kv commands")
	_, out, _ = runArqon(t, nil, "help", "kv", "list")
	for _, o := range []string{"--namespace NS", "--prefix P", "--limit N"} {
		assert.Contains(t, out, "\n  "+o+" ")
	}
}

// Each kv command line becomes one op.store.* command whose args carry
// exactly what the line said, options before or after the arguments.
func TestKVCommandLinesBecomeStoreCommands(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command string
		want    string
	}{
		{[]string{"set", "theme", `{"dark":true}`}, "op.store.set", `{"key":"theme","value":{"dark":true}}`},
		{[]string{"set", "--namespace", "prefs", "n", "-5", "--ttl=60"}, "op.store.set",
			`{"key":"n","value":-5,"namespace":"prefs","ttl_seconds":60}`},
		{[]string{"set", "k", `"blue"`}, "op.store.set", `{"key":"k","value":"blue"}`},
		{[]string{"get", "--", "--odd"}, "op.store.get", `{"key":"--odd"}`},
		{[]string{"delete", "theme", "--namespace", "prefs"}, "op.store.delete", `{"key":"theme","namespace":"prefs"}`},
		{[]string{"list"}, "op.store.list", `{}`},
		{[]string{"list", "--prefix", "", "--limit", "10"}, "op.store.list", `{"prefix":"","limit":10}`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			requireCommandLine(t, "kv", tc.args, tc.command, tc.want)
		})
	}
}

func TestCronHelpListsTheCronCommandsAndSaysJobsEndWithTheConnection(t *testing.T) {
	for _, args := range [][]string{{"cron", "--help"}, {"help", "cron"}} {
		_, out, _ := runArqon(t, nil, args...)
		for _, sc := range group("cron") {
			assert.Contains(t, out, "\n  "+sc.synopsis()+" ")
		}
		assert.NotContains(t, out, "kv set", "only the cron commands")
		assert.Contains(t, out, "no --detach")
	}
	_, out, _ := runArqon(t, nil, "help", "cron", "schedule")
	for _, want := range []string{"\n  --delay SECONDS ", "\n  --interval SECONDS ", "\n  --repeat N ",
		"until the job's last firing", "Ctrl-C", "no --detach"} {
		assert.Contains(t, out, want)
	}
}

// Each cron command line becomes one op.cron.* command whose args carry
// exactly what the line said, options before or after the arguments.
func TestCronCommandLinesBecomeCronCommands(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command string
		want    string
	}{
		{[]string{"schedule", "science:explore", `{"n":1}`}, "op.cron.schedule",
			`{"room":"science","channel":"explore","payload":{"n":1}}`},
		{[]string{"schedule", "--repeat", "2", "science:explore", `{"n":1}`, "--delay", "0.2", "--interval=1.5"}, "op.cron.schedule",
			`{"room":"science","channel":"explore","payload":{"n":1},"delay_seconds":0.2,"interval_seconds":1.5,"repeat_count":2}`},
		{[]string{"schedule", "a:b", "{}", "--delay", "0"}, "op.cron.schedule",
			`{"room":"a","channel":"b","payload":{},"delay_seconds":0}`},
		{[]string{"list"}, "op.cron.list", `{}`},
		{[]string{"cancel", "cron_0123456789ab"}, "op.cron.cancel", `{"job_id":"cron_0123456789ab"}`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			j := requireCommandLine(t, "cron", tc.args, tc.command, tc.want)
			assert.Equal(t, tc.args[0] == "schedule", j.keepOpen, "only schedule stays connected")
		})
	}
}

// requireCommandLine parses the command line "prefix args..." and checks it
// becomes the command named command with exactly the args want; it returns
// the parsed job for further checks.
func requireCommandLine(t *testing.T, prefix string, args []string, command, want string) job {
	t.Helper()
	sc, ok := lookup(prefix + " " + args[0])
	require.True(t, ok)
	j, err := parseJob(sc, args[1:])
	require.NoError(t, err)
	assert.Equal(t, protocol.TypeCommand, j.request.Type)
	assert.Equal(t, command, j.request.Command)
	assert.JSONEq(t, want, string(j.request.Args))
	return j
}

func TestScheduledJobsLastFiringIsDueAfterTheDelayAndTheIntervals(t *testing.T) {
	assert.Equal(t, 200*time.Millisecond, scheduledJob{Delay: 0.2, Interval: 1, Repeat: 1}.lastFiring())
	assert.Equal(t, 2200*time.Millisecond, scheduledJob{Delay: 0.2, Interval: 1, Repeat: 3}.lastFiring())
	assert.Equal(t, time.Second, scheduledJob{Delay: 1}.lastFiring(), "no repeat count: one firing")
	assert.Positive(t, scheduledJob{Delay: 1, Interval: 1e9, Repeat: 100000}.lastFiring(), "no overflow")
}

func TestKVCommandsPrintTheServersRepliesAndExitOneOnAnErrorReply(t *testing.T) {
	env := map[string]string{"ARQON_URL": testutil.StartServer(t).URL}
	reply := func(args ...string) (int, map[string]any) {
		t.Helper()
		code, out, errOut := runArqon(t, env, append([]string{"kv"}, args...)...)
		assert.Empty(t, errOut)
		var r struct {
			Payload struct {
				Data map[string]any `json:"data"`
			} `json:"payload"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &r), "stdout: %q", out)
		return code, r.Payload.Data
	}

	code, data := reply("set", "theme", `{"dark":true}`, "--namespace", "prefs")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, true, data["created"])
	code, data = reply("get", "theme", "--namespace", "prefs")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, map[string]any{"dark": true}, data["value"])
	code, data = reply("get", "theme")
	assert.Equal(t, exitOK, code, "a missing key is an answer, not an error")
	assert.Equal(t, false, data["found"], "the default namespace is another one")
	code, data = reply("list", "--namespace", "prefs", "--prefix", "th")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, []any{"theme"}, data["keys"])
	code, data = reply("delete", "theme", "--namespace", "prefs")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, true, data["deleted"])

	code, out, _ := runArqon(t, env, "kv", "get", "theme", "--namespace", "no spaces")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, out, string(protocol.CodeValidation), "the error reply is printed")
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

func TestCronCommandsPrintTheServersRepliesAndExitOneOnAnErrorReply(t *testing.T) {
	env := map[string]string{"ARQON_URL": testutil.StartServer(t).URL}

	code, out, errOut := runArqon(t, env, "cron", "schedule", "science:explore", `{"n":1}`, "--delay", "0.1")
	assert.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Contains(t, out, `"job_id":"cron_`)
	assert.Regexp(t, `^arqon: job cron_[0-9a-f]{12} scheduled; keeping the connection open until its last firing \(Ctrl-C cancels it\)\n$`, errOut)

	code, out, _ = runArqon(t, env, "cron", "list")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, `"status":"success"`)

	code, out, _ = runArqon(t, env, "cron", "cancel", "cron_0123456789ab")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, out, string(protocol.CodeNotFound), "the error reply is printed")

	code, out, errOut = runArqon(t, env, "cron", "schedule", "science:explore", "{}", "--repeat", "2")
	assert.Equal(t, exitFailure, code, "a repeat without an interval is refused by the server")
	assert.Contains(t, out, string(protocol.CodeValidation))
	assert.NotContains(t, errOut, "keeping the connection open", "only a scheduled job keeps it")
}

// A signal while cron schedule waits for the last firing ends it at once
// with status 0.
func TestCronScheduleStopsAtOnceOnASignal(t *testing.T) {
	env := map[string]string{"ARQON_URL": testutil.StartServer(t).URL}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testutil.LogBuffer
	status := make(chan int, 1)
	go func() {
		status <- run(ctx, []string{"cron", "schedule", "science:explore", "{}", "--delay", "600"},
			func(k string) string { return env[k] }, &out, &errOut)
	}()
	testutil.Eventually(t, func() bool { return strings.Contains(errOut.String(), "scheduled; keeping") },
		testutil.Timeout, "the scheduled line on stderr")
	cancel()
	select {
	case code := <-status:
		assert.Equal(t, exitOK, code)
	case <-time.After(testutil.ArqonInterruptBound):
		t.Fatal("cron schedule still running after the signal")
	}
}
