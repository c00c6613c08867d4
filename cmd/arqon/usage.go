package main

import (
	"fmt"
	"io"
	"strings"
)

// defaultURL is the server arqon talks to when neither --url nor ARQON_URL
// names one: a dev node started with `arqonbus` or `make run`.
const defaultURL = "ws://127.0.0.1:9100/ws"

// subcommand is one row of the command table: what it takes, what it does.
// The help texts are generated from the table, so they cannot drift from
// what run accepts.
type subcommand struct {
	name    string
	args    string // argument synopsis
	minArgs int
	maxArgs int
	options []option // flags after the name, in any place among the arguments
	summary string   // one line in the command list
	detail  string   // the rest of `arqon help NAME`
}

var subcommands = []subcommand{
	{
		name: "tail", args: "ROOM:CHANNEL", minArgs: 1, maxArgs: 1,
		summary: "join and print every frame that arrives until Ctrl-C",
		detail: `Joins ROOM:CHANNEL, says so on stderr ("arqon: joined ROOM:CHANNEL on URL;
Ctrl-C to stop"), then prints every frame that arrives on stdout, one JSON line
each. Ctrl-C (or SIGTERM) stops it at once with exit status 0; exit status 1
means the connection ended (the close code is printed).`,
	},
	{
		name: "publish", args: "ROOM:CHANNEL JSON", minArgs: 2, maxArgs: 2,
		summary: "publish a JSON object payload and print the ack",
		detail: `Sends JSON (an object) to everyone else in ROOM:CHANNEL and prints the
server's ack, e.g. {"delivered":1,"persisted":true} in its payload. The sender
need not have joined (unless the server sets ARQONBUS_REQUIRE_MEMBERSHIP).
example: arqon publish science:explore '{"text":"hello"}'`,
	},
	{
		name: "command", args: "NAME [JSON]", minArgs: 1, maxArgs: 2,
		summary: "run a server command with JSON object args and print the reply",
		detail: `Runs the server command NAME with JSON (an object) as its args and prints
the reply. "arqon command help" lists the server's commands.
example: arqon command history '{"room":"science","channel":"explore","limit":10}'`,
	},
	{
		name: "status", args: "", minArgs: 0, maxArgs: 0,
		summary: "print the server's status",
		detail:  `Prints the reply of the server's status command: version, profile, connections, rooms, storage state.`,
	},
	{
		name: "kv set", args: "KEY JSON", minArgs: 2, maxArgs: 2, options: []option{optNamespace, optTTL},
		summary: "store a JSON value under KEY (op.store.set)",
		detail: `Stores JSON (any JSON value but null; a string is quoted) under KEY in a
namespace of your tenant and prints the reply, e.g. {"created":true,…}.
example: arqon kv set theme '{"dark":true}' --namespace prefs --ttl 3600`,
	},
	{
		name: "kv get", args: "KEY", minArgs: 1, maxArgs: 1, options: []option{optNamespace},
		summary: "print the value of KEY (op.store.get)",
		detail: `Prints the reply of op.store.get: {"found":true,"value":…} or {"found":false}
(a missing key is not an error).
example: arqon kv get theme --namespace prefs`,
	},
	{
		name: "kv delete", args: "KEY", minArgs: 1, maxArgs: 1, options: []option{optNamespace},
		summary: "delete KEY (op.store.delete)",
		detail: `Deletes KEY and prints the reply: {"deleted":false} when there was none.
example: arqon kv delete theme --namespace prefs`,
	},
	{
		name: "kv list", args: "", minArgs: 0, maxArgs: 0, options: []option{optNamespace, optPrefix, optLimit},
		summary: "list the keys of a namespace, sorted (op.store.list)",
		detail: `Prints the reply of op.store.list: {"count":N,"keys":[…]}, the keys sorted
bytewise.
example: arqon kv list --namespace prefs --prefix th --limit 10`,
	},
	{
		name: "cron schedule", args: "ROOM:CHANNEL JSON", minArgs: 2, maxArgs: 2, options: []option{optDelay, optInterval, optRepeat},
		summary: "publish JSON to a pair on a schedule (op.cron.schedule)",
		detail: `Schedules a job that publishes JSON (an object) to ROOM:CHANNEL after
--delay seconds, --repeat times spaced by --interval seconds, and prints the
reply, e.g. {"job_id":"cron_…",…}. A job ends with the connection that
scheduled it, so arqon keeps the connection open until the job's last firing
is due, saying so on stderr ("arqon: job cron_… scheduled; keeping the
connection open until its last firing (Ctrl-C cancels it)"), then exits 0.
Ctrl-C (or SIGTERM) exits at once with status 0 and cancels the job. There is
no --detach: a job cannot outlive its connection.
example: arqon cron schedule science:explore '{"n":1}' --delay 0.5 --interval 2 --repeat 3`,
	},
	{
		name: "cron list", args: "", minArgs: 0, maxArgs: 0,
		summary: "list your cron jobs (op.cron.list)",
		detail: `Prints the reply of op.cron.list: the jobs of this connection, which has
just opened, so none of another arqon's (an admin sees the tenant's jobs).
example: arqon cron list`,
	},
	{
		name: "cron cancel", args: "JOB_ID", minArgs: 1, maxArgs: 1,
		summary: "cancel a cron job (op.cron.cancel)",
		detail: `Cancels the job JOB_ID and prints the reply. Only an admin of the job's
tenant may cancel another connection's job (else AUTHORIZATION_ERROR); an
unknown job is NOT_FOUND.
example: arqon cron cancel cron_0123456789ab`,
	},
	{
		name: "task submit", args: "GROUP JSON", minArgs: 2, maxArgs: 2,
		summary: "queue a JSON object task for GROUP's workers (op.task.submit)",
		detail: `Queues JSON (an object) as a task for the workers of GROUP and prints the
reply, e.g. {"task_id":"task_…","group":"resize"}: the task is stored by then.
example: arqon task submit resize '{"image":"cat.png","width":200}'`,
	},
	{
		name: "task get", args: "TASK_ID", minArgs: 1, maxArgs: 1,
		summary: "print a task's state and result (op.task.get)",
		detail: `Prints the reply of op.task.get: {"task_id":…,"group":…,"state":…,"attempts":N},
with "result" (what the worker answered) once the state is done or failed.
The states: queued, running, done, failed, dead. An unknown task is NOT_FOUND.
example: arqon task get task_0123456789abcdef0123456789abcdef`,
	},
	{
		name: "task dead", args: "GROUP", minArgs: 1, maxArgs: 1, options: []option{optDeadLimit},
		summary: "list GROUP's dead-lettered tasks (op.task.dead)",
		detail: `Prints the reply of op.task.dead: {"group":…,"count":N,"tasks":[…]}, the
tasks of GROUP that no worker completed within the server's attempt limit.
example: arqon task dead resize --limit 10`,
	},
	{
		name: "worker", args: "GROUP -- CMD [ARG...]", minArgs: 2, maxArgs: -1, options: []option{optTaskTimeout},
		summary: "run CMD for each task of GROUP until Ctrl-C",
		detail: `Joins the workers of GROUP (operator.join; with authentication on the token's
role must be operator or admin), says so on stderr ("arqon: worker of GROUP on
URL; Ctrl-C to stop"), then runs CMD once for each task the server hands it,
one task at a time in the order they arrive:
  stdin        the task, a JSON object
  environment  ARQON_TASK_ID, ARQON_TASK_GROUP, ARQON_TASK_ATTEMPT (1 on the
               first delivery; a task can come again, so make CMD idempotent
               by task id)
  stdout       the result: a JSON object is sent as it is, anything else as
               {"output":"<stdout>"}
  exit status  0 completes the task as done; anything else, or being killed by
               --timeout, completes it as failed with
               {"output":…,"exit_code":N,"stderr":"<its last 4 KiB>"}
               (exit_code -1 and "timed_out":true after --timeout). A failed
               task is not retried; resubmitting is the submitter's call.
stdout above 512 KiB fails the task (the server caps frame sizes). Each task
leaves one line on stderr: its id, attempt, status, duration and what the
server recorded; arqon's own stdout stays empty. A completion the server
refuses (NOT_FOUND: the task was handed to another worker after the server's
visibility timeout) is reported there and the worker goes on.
CMD runs in a process group of its own. Ctrl-C (or SIGTERM) sends SIGTERM to
the running task's process group (SIGKILL 100 ms later if it is still there),
leaves the task unanswered, so the server hands it to another worker, and exits
with status 0. The connection ending exits with status 1 (the running task is
stopped the same way). "--" before CMD is required. The --timeout after
"worker" bounds each task's CMD; the one before it bounds connecting, the join
and each completion's reply.
A refused join exits with status 1 and the server's error: FEATURE_DISABLED
when the lane is closed (staging and prod, unless the server sets
ARQONBUS_ENABLE_PROTOTYPE_RSI=true), AUTHORIZATION_ERROR when the token's role
is below operator.
example: arqon worker resize --timeout 5m -- ./resize.sh --quality 80`,
	},
}

// groupDetail is the help of a group of subcommands (`arqon help kv`).
var groupDetail = map[string]string{
	"kv": `The key-value store: JSON values under keys, in a namespace (default
"default") inside your tenant; no namespace reaches another tenant. The
options of a kv command may come anywhere after its name; "--" ends them (for
a key that starts with a dash).`,
	"cron": `Cron jobs: a JSON object published to a pair on a schedule. A job belongs
to the connection that scheduled it and ends with it, so "arqon cron schedule"
stays connected until the job's last firing (Ctrl-C cancels the job); there
is no --detach.`,
	"task": `The work queue (the prototype RSI operator lane): tasks, JSON objects,
queued per group and handed one by one to the group's workers ("arqon worker"
runs one). Delivery is at least once. The lane is closed in staging and prod
unless the server sets ARQONBUS_ENABLE_PROTOTYPE_RSI=true: every command of it
then answers FEATURE_DISABLED.`,
}

func lookup(name string) (subcommand, bool) {
	for _, sc := range subcommands {
		if sc.name == name {
			return sc, true
		}
	}
	return subcommand{}, false
}

// group returns the subcommands whose name begins with the word name
// ("kv": kv set, kv get, …); none for a plain subcommand.
func group(name string) []subcommand {
	var out []subcommand
	for _, sc := range subcommands {
		if strings.HasPrefix(sc.name, name+" ") {
			out = append(out, sc)
		}
	}
	return out
}

// synopsis is the command line of sc; its options come before a " -- "
// in its arguments (worker: what follows "--" is another command's).
func (sc subcommand) synopsis() string {
	args, rest, _ := strings.Cut(sc.args, " -- ")
	s := strings.TrimSpace(sc.name + " " + args)
	for _, o := range sc.options {
		s += " " + o.synopsis()
	}
	if rest != "" {
		s += " -- " + rest
	}
	return s
}

// The summary column of a command list starts at least minSummaryColumn
// and at most maxSummaryColumn characters after the indent; a longer
// synopsis pushes only its own summary further.
const (
	minSummaryColumn = 25
	maxSummaryColumn = 52
)

// writeCommandList writes one line per subcommand, the summaries in one
// column.
func writeCommandList(b *strings.Builder, scs []subcommand) {
	width := minSummaryColumn
	for _, sc := range scs {
		if n := len(sc.synopsis()); n <= maxSummaryColumn {
			width = max(width, n)
		}
	}
	for _, sc := range scs {
		fmt.Fprintf(b, "  %-*s  %s\n", width, sc.synopsis(), sc.summary)
	}
}

// printUsage writes the whole help: commands, flags, environment, exit
// statuses.
func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: arqon [flags] COMMAND [ARGS]\n\n")
	b.WriteString("arqon is the ArqonBus command-line client.\n\ncommands:\n")
	writeCommandList(&b, subcommands)
	b.WriteString("\n`arqon help COMMAND` or `arqon COMMAND --help` describes one command.\n")
	b.WriteString("\nexamples:\n  arqon tail science:explore\n  arqon publish science:explore '{\"text\":\"hello\"}'\n")
	b.WriteString("  arqon kv set theme '{\"dark\":true}'\n")
	b.WriteString("  arqon cron schedule science:explore '{\"n\":1}' --interval 2 --repeat 3\n")
	b.WriteString("  arqon worker resize -- ./resize.sh\n  arqon task submit resize '{\"image\":\"cat.png\"}'\n")
	b.WriteString(commonHelp)
	fmt.Fprint(w, b.String())
}

// printCommandUsage writes the help of one subcommand.
func printCommandUsage(w io.Writer, sc subcommand) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: arqon [flags] %s\n\n%s\n", sc.synopsis(), sc.detail)
	if len(sc.options) > 0 {
		where := "anywhere after the command name"
		if strings.Contains(sc.args, " -- ") {
			where = `after the command name, before "--"`
		}
		fmt.Fprintf(&b, "\noptions (%s):\n", where)
		for _, o := range sc.options {
			fmt.Fprintf(&b, "  %-20s %s\n", "--"+o.name+" "+o.value, o.help)
		}
	}
	b.WriteString(commonHelp)
	fmt.Fprint(w, b.String())
}

// printGroupUsage writes the help of a group of subcommands.
func printGroupUsage(w io.Writer, name string) {
	scs := group(name)
	ops := make([]string, len(scs))
	for i, sc := range scs {
		ops[i] = strings.TrimPrefix(sc.name, name+" ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "usage: arqon [flags] %s %s [ARGS]\n\n%s\n\ncommands:\n", name, strings.Join(ops, "|"), groupDetail[name])
	writeCommandList(&b, scs)
	fmt.Fprintf(&b, "\n`arqon help %s COMMAND` or `arqon %s COMMAND --help` describes one command.\n", name, name)
	b.WriteString(commonHelp)
	fmt.Fprint(w, b.String())
}

// commonHelp is the part every help text shares.
const commonHelp = `
flags (before the command name):
  --url URL      server WebSocket URL (default $ARQON_URL, else ` + defaultURL + `)
  --token JWT    bearer token for a server with authentication on (default $ARQON_TOKEN)
  --timeout D    bound on connecting and on each reply (default 10s)

environment (the flags win):
  ARQON_URL      server WebSocket URL
  ARQON_TOKEN    bearer token, e.g. from "arqonbus token"

exit status: 0 success, also tail, cron schedule or worker stopped with Ctrl-C;
1 the connection failed or ended, or the server answered with an error (a
worker: refused its join); 2 the command line is wrong (nothing was sent).
`
