package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Each task command line becomes one op.task.* command whose args carry
// exactly what the line said.
func TestTaskCommandLinesBecomeTaskCommands(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command string
		want    string
	}{
		{[]string{"submit", "resize", `{"image":"cat.png","width":200}`}, "op.task.submit",
			`{"group":"resize","task":{"image":"cat.png","width":200}}`},
		{[]string{"submit", "g", ` {} `}, "op.task.submit", `{"group":"g","task":{}}`},
		{[]string{"get", taskA}, "op.task.get", `{"task_id":"` + taskA + `"}`},
		{[]string{"dead", "resize"}, "op.task.dead", `{"group":"resize"}`},
		{[]string{"dead", "--limit", "10", "resize"}, "op.task.dead", `{"group":"resize","limit":10}`},
		{[]string{"dead", "resize", "--limit=1"}, "op.task.dead", `{"group":"resize","limit":1}`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			requireCommandLine(t, "task", tc.args, tc.command, tc.want)
		})
	}
}

// The task commands send their one command and print the server's reply:
// exit 0 on success, 1 on an error reply.
func TestTaskCommandsPrintTheServersRepliesAndExitOneOnAnErrorReply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		command string
		args1   string
		reply   string // the frame the server answers, %s its request id
		code    int
	}{
		{"submit", []string{"task", "submit", "g", `{"n":1}`}, "op.task.submit", `{"group":"g","task":{"n":1}}`,
			`{"type":"response","request_id":"ID","status":"success","payload":{"message":"queued","data":{"task_id":"` + taskA + `","group":"g"}}}`, exitOK},
		{"get", []string{"task", "get", taskA}, "op.task.get", `{"task_id":"` + taskA + `"}`,
			`{"type":"response","request_id":"ID","status":"success","payload":{"message":"task","data":{"task_id":"` + taskA + `","group":"g","state":"done","attempts":1,"result":{"ok":true}}}}`, exitOK},
		{"dead", []string{"task", "dead", "g", "--limit", "5"}, "op.task.dead", `{"group":"g","limit":5}`,
			`{"type":"response","request_id":"ID","status":"success","payload":{"message":"dead","data":{"group":"g","count":0,"tasks":[]}}}`, exitOK},
		{"get unknown", []string{"task", "get", taskA}, "op.task.get", `{"task_id":"` + taskA + `"}`,
			`{"type":"response","request_id":"ID","status":"error","error":"no such task","error_code":"NOT_FOUND","payload":{"message":"no such task","data":{},"errors":[]}}`, exitFailure},
		{"submit to a closed lane", []string{"task", "submit", "g", `{}`}, "op.task.submit", `{"group":"g","task":{}}`,
			`{"type":"error","request_id":"ID","status":"error","error":"the lane is closed","error_code":"FEATURE_DISABLED","payload":{}}`, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := startFakeBus(t)
			a := startArqon(t, bus.url, tc.args...)
			c := bus.accept(t)
			f := c.read()
			assert.Equal(t, protocol.TypeCommand, f.Type)
			assert.Equal(t, tc.command, f.Command)
			assert.JSONEq(t, tc.args1, string(f.Args))
			c.send(strings.Replace(tc.reply, `"ID"`, `"`+f.ID+`"`, 1))
			c.readRest()
			assert.Equal(t, tc.code, a.exit(t))
			assert.Contains(t, a.stdout.String(), `"request_id":"`+f.ID+`"`, "the reply is printed")
			assert.Empty(t, a.stderr.String())
		})
	}
}

func TestTaskAndWorkerUsageMistakesExitTwoWithUsageOnStderrAndDialNothing(t *testing.T) {
	requireUsageMistakes(t, []usageMistake{
		{[]string{"task"}, "usage: arqon [flags] task submit|get|dead"},
		{[]string{"task", "put"}, `unknown command "task put"`},
		{[]string{"task", "submit", "g"}, "takes GROUP JSON, got 1 argument(s)"},
		{[]string{"task", "submit", "g", "[1]"}, "the task must be a JSON object"},
		{[]string{"task", "submit", "g", `"x"`}, "the task must be a JSON object"},
		{[]string{"task", "submit", "g", "{"}, "the task must be a JSON object"},
		{[]string{"task", "submit", "g", "{}", "extra"}, "takes GROUP JSON, got 3 argument(s)"},
		{[]string{"task", "get"}, "takes TASK_ID, got 0 argument(s)"},
		{[]string{"task", "get", "a", "b"}, "takes TASK_ID, got 2 argument(s)"},
		{[]string{"task", "dead"}, "takes GROUP, got 0 argument(s)"},
		{[]string{"task", "dead", "g", "--limit", "0"}, "--limit must be a whole number of at least 1"},
		{[]string{"task", "dead", "g", "--limit=x"}, `--limit must be a whole number of at least 1, got "x"`},
		{[]string{"task", "dead", "g", "--prefix", "a"}, "unknown flag --prefix (task dead takes --limit)"},
		{[]string{"worker"}, `needs "--" before the command it runs`},
		{[]string{"worker", "g", "/bin/sh"}, `needs "--" before the command it runs`},
		{[]string{"worker", "g", "--"}, `needs a command after "--"`},
		{[]string{"worker", "--", "/bin/sh"}, `takes one GROUP before "--", got []`},
		{[]string{"worker", "a", "b", "--", "/bin/sh"}, `takes one GROUP before "--", got ["a" "b"]`},
		{[]string{"worker", "g", "--timeout", "soon", "--", "/bin/sh"}, `--timeout must be a positive duration such as 30s or 5m, got "soon"`},
		{[]string{"worker", "g", "--timeout=0s", "--", "/bin/sh"}, "--timeout must be a positive duration"},
		{[]string{"worker", "g", "--timeout", "-1s", "--", "/bin/sh"}, "--timeout must be a positive duration"},
		{[]string{"worker", "g", "--limit", "3", "--", "/bin/sh"}, "unknown flag --limit (worker takes --timeout)"},
		{[]string{"worker", "g", "--", "/no/such/command"}, "cannot run the command"},
	})
}
