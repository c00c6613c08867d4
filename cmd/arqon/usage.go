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
	summary string // one line in the command list
	detail  string // the rest of `arqon help NAME`
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
}

func lookup(name string) (subcommand, bool) {
	for _, sc := range subcommands {
		if sc.name == name {
			return sc, true
		}
	}
	return subcommand{}, false
}

func (sc subcommand) synopsis() string {
	return strings.TrimSpace(sc.name + " " + sc.args)
}

// printUsage writes the whole help: commands, flags, environment, exit
// statuses.
func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: arqon [flags] COMMAND [ARGS]\n\n")
	b.WriteString("arqon is the ArqonBus command-line client.\n\ncommands:\n")
	for _, sc := range subcommands {
		fmt.Fprintf(&b, "  %-26s %s\n", sc.synopsis(), sc.summary)
	}
	b.WriteString("\n`arqon help COMMAND` or `arqon COMMAND --help` describes one command.\n")
	b.WriteString("\nexamples:\n  arqon tail science:explore\n  arqon publish science:explore '{\"text\":\"hello\"}'\n")
	b.WriteString(commonHelp)
	fmt.Fprint(w, b.String())
}

// printCommandUsage writes the help of one subcommand.
func printCommandUsage(w io.Writer, sc subcommand) {
	fmt.Fprintf(w, "usage: arqon [flags] %s\n\n%s\n%s", sc.synopsis(), sc.detail, commonHelp)
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

exit status: 0 success, also tail stopped with Ctrl-C; 1 the connection failed or
ended, or the server answered with an error; 2 the command line is wrong (nothing
was sent).
`
