// Command arqon is the ArqonBus client CLI: tail a room, publish, run a
// command, show status. `arqon --help` lists the commands (usage.go).
//
//	arqon [--url ws://127.0.0.1:9100/ws] [--token JWT] tail ROOM:CHANNEL
//	arqon publish ROOM:CHANNEL '{"text":"hello"}'
//	arqon command NAME ['{"arg":"value"}']
//	arqon status
//	arqon kv set|get|delete|list …
//	arqon cron schedule|list|cancel …
//	arqon task submit|get|dead …
//	arqon worker GROUP [--timeout D] -- CMD [ARG...]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Exit statuses.
const (
	exitOK      = 0 // success, and tail, cron schedule or worker stopped with Ctrl-C
	exitFailure = 1 // the connection failed or ended, or the server answered with an error
	exitUsage   = 2 // the command line is wrong; nothing was sent
)

// After Ctrl-C (or SIGTERM).
const (
	// interruptCloseGrace bounds the wait for the server's close reply.
	interruptCloseGrace = 150 * time.Millisecond
	// interruptGrace bounds how long the process lives on; it covers
	// interruptCloseGrace with room to spare.
	interruptGrace = 300 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := make(chan int, 1)
	go func() { status <- run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) }()
	os.Exit(awaitExit(ctx, stop, status, interruptGrace))
}

// awaitExit returns run's exit status. Once a signal has ended ctx, run gets
// grace to finish: it sees the signal through ctx everywhere except in a
// write to a stalled stdout (`arqon tail … | less`, with less no longer
// reading), which nothing can interrupt. A run still going after grace ends
// with exitOK, the status of a tail or a cron schedule stopped with Ctrl-C:
// they are the commands that run until a signal. stop restores the signals' default
// action, so a second Ctrl-C kills at once.
func awaitExit(ctx context.Context, stop context.CancelFunc, status <-chan int, grace time.Duration) int {
	select {
	case code := <-status:
		stop()
		return code
	case <-ctx.Done():
	}
	stop()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case code := <-status:
		return code
	case <-t.C:
		return exitOK
	}
}

// run executes one command line. Everything about the command line is
// checked, and help answered, before anything is dialled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arqon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server := fs.String("url", envOr(getenv, "ARQON_URL", defaultURL), "server WebSocket URL")
	token := fs.String("token", getenv("ARQON_TOKEN"), "bearer token")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout for connecting and for each reply")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "arqon: %v\n", err)
		printUsage(stderr)
		return exitUsage
	case fs.NArg() == 0:
		printUsage(stderr)
		return exitUsage
	}
	name, cmdArgs := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		return help(cmdArgs, stdout, stderr)
	}
	sc, ok := lookup(name)
	if !ok && len(group(name)) > 0 {
		switch {
		case len(cmdArgs) > 0 && wantsHelp(cmdArgs[:1]):
			printGroupUsage(stdout, name)
			return exitOK
		case len(cmdArgs) == 0:
			fmt.Fprintf(stderr, "arqon %s: which command?\n", name)
			printGroupUsage(stderr, name)
			return exitUsage
		}
		name += " " + cmdArgs[0]
		sc, ok = lookup(name)
		if !ok {
			fmt.Fprintf(stderr, "arqon: unknown command %q\n", name)
			printGroupUsage(stderr, strings.Fields(name)[0])
			return exitUsage
		}
		cmdArgs = cmdArgs[1:]
	}
	if !ok {
		fmt.Fprintf(stderr, "arqon: unknown command %q\n", name)
		printUsage(stderr)
		return exitUsage
	}
	if wantsHelp(cmdArgs) {
		printCommandUsage(stdout, sc)
		return exitOK
	}
	j, err := parseJob(sc, cmdArgs)
	if err != nil {
		fmt.Fprintf(stderr, "arqon %s: %v\nusage: arqon [flags] %s   (arqon help %s tells more)\n", name, err, sc.synopsis(), name)
		return exitUsage
	}

	dialCtx, cancel := context.WithTimeout(ctx, *timeout)
	c, err := client.Dial(dialCtx, *server, client.Options{Token: *token})
	cancel()
	if err != nil {
		if j.request == nil && ctx.Err() != nil {
			return exitOK // Ctrl-C before tail or worker had begun
		}
		fmt.Fprintf(stderr, "arqon: connect %s: %v\n", displayURL(*server), err)
		if errors.Is(err, syscall.ECONNREFUSED) {
			fmt.Fprintln(stderr, "arqon: is a server running there? Start one with arqonbus (or make run), or point --url or ARQON_URL at one")
		}
		return exitFailure
	}
	defer closeClient(ctx, c)
	if j.worker != nil {
		return work(ctx, c, j.worker, *timeout, displayURL(*server), stderr)
	}
	if j.request == nil {
		return tail(ctx, c, j, *timeout, displayURL(*server), stdout, stderr)
	}
	rc, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r, err := c.Request(rc, j.request)
	if code := printReply(stdout, stderr, r, err); code != exitOK || !j.keepOpen {
		return code
	}
	return keepJob(ctx, c, r, stderr)
}

// help answers `arqon help [COMMAND]`, where COMMAND may be two words
// (`arqon help kv get`) or a group (`arqon help kv`).
func help(args []string, stdout, stderr io.Writer) int {
	name := strings.Join(args, " ")
	switch {
	case len(args) == 0:
		printUsage(stdout)
		return exitOK
	case len(args) > 2:
	case len(args) == 1 && len(group(name)) > 0:
		printGroupUsage(stdout, name)
		return exitOK
	default:
		if sc, ok := lookup(name); ok {
			printCommandUsage(stdout, sc)
			return exitOK
		}
		fmt.Fprintf(stderr, "arqon: unknown command %q\n", name)
	}
	printUsage(stderr)
	return exitUsage
}

// wantsHelp reports whether a subcommand's arguments ask for its help. What
// follows "--" is not arqon's (a worker's command line, a key such as
// "--help").
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// job is a checked command line: the pair to tail, the worker to run, or
// the one request to send.
type job struct {
	room, channel string             // tail
	worker        *workerJob         // worker
	request       *protocol.Envelope // publish, command, status, kv, cron, task; nil for tail and worker
	// keepOpen keeps the connection after a successful reply until the
	// job it scheduled has fired for the last time (cron schedule).
	keepOpen bool
}

func parseJob(sc subcommand, args []string) (job, error) {
	if sc.name == "worker" {
		w, err := parseWorker(sc, args)
		return job{worker: w}, err
	}
	var opts map[string]string
	if len(sc.options) > 0 {
		var err error
		if args, opts, err = splitOptions(sc, args); err != nil {
			return job{}, err
		}
	}
	if len(args) < sc.minArgs || len(args) > sc.maxArgs {
		if sc.maxArgs == 0 {
			return job{}, fmt.Errorf("takes no arguments, got %q", strings.Join(args, " "))
		}
		return job{}, fmt.Errorf("takes %s, got %d argument(s)", sc.args, len(args))
	}
	switch sc.name {
	case "kv set", "kv get", "kv delete", "kv list":
		r, err := kvRequest(sc, args, opts)
		return job{request: r}, err
	case "cron schedule", "cron list", "cron cancel":
		r, err := cronRequest(sc, args, opts)
		return job{request: r, keepOpen: sc.name == "cron schedule"}, err
	case "task submit", "task get", "task dead":
		r, err := taskRequest(sc, args, opts)
		return job{request: r}, err
	case "tail":
		room, channel, err := roomChannel(args[0])
		return job{room: room, channel: channel}, err
	case "publish":
		room, channel, err := roomChannel(args[0])
		if err != nil {
			return job{}, err
		}
		payload, err := jsonObject("the payload", args[1])
		return job{request: &protocol.Envelope{Type: protocol.TypeMessage, Room: room, Channel: channel, Payload: payload}}, err
	case "command":
		var cmdArgs json.RawMessage
		var err error
		if len(args) == 2 {
			cmdArgs, err = jsonObject("the args", args[1])
		}
		return job{request: &protocol.Envelope{Type: protocol.TypeCommand, Command: args[0], Args: cmdArgs}}, err
	default: // status
		return job{request: &protocol.Envelope{Type: protocol.TypeCommand, Command: "status"}}, nil
	}
}

func roomChannel(s string) (room, channel string, err error) {
	room, channel, ok := strings.Cut(s, ":")
	if !ok || room == "" || channel == "" {
		return "", "", fmt.Errorf("want ROOM:CHANNEL, got %q", s)
	}
	return room, channel, nil
}

func jsonObject(what, s string) (json.RawMessage, error) {
	if !json.Valid([]byte(s)) || !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return nil, fmt.Errorf("%s must be a JSON object, got %q", what, s)
	}
	return json.RawMessage(s), nil
}

// tail joins the pair, says so on stderr, and prints every frame until a
// signal ends ctx (exit 0) or the connection ends (exit 1).
func tail(ctx context.Context, c *client.Client, j job, timeout time.Duration, server string, stdout, stderr io.Writer) int {
	jc, cancel := context.WithTimeout(ctx, timeout)
	err := c.Join(jc, j.room, j.channel)
	cancel()
	if ctx.Err() != nil {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "arqon: join %s:%s: %v\n", j.room, j.channel, err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "arqon: joined %s:%s on %s; Ctrl-C to stop\n", j.room, j.channel, server)
	for {
		env, err := c.Recv(ctx)
		if ctx.Err() != nil {
			// Recv hands out queued frames before it looks at ctx; a
			// signal wins over them.
			return exitOK
		}
		if err != nil {
			if code, text := c.CloseCode(); code != 0 {
				fmt.Fprintf(stderr, "arqon: connection ended (close %d %s)\n", code, text)
			} else {
				fmt.Fprintf(stderr, "arqon: connection ended: %v\n", c.Err())
			}
			return exitFailure
		}
		fmt.Fprintf(stdout, "%s\n", protocol.Encode(env))
	}
}

// closeClient says goodbye to the server: with the usual wait for its close
// reply, or briefly once a signal asked to stop.
func closeClient(ctx context.Context, c *client.Client) {
	if ctx.Err() != nil {
		_ = c.CloseWithin(interruptCloseGrace)
		return
	}
	_ = c.Close()
}

func printReply(stdout, stderr io.Writer, r *protocol.Envelope, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "arqon: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s\n", protocol.Encode(r))
	if client.ReplyError(r) != nil {
		return exitFailure
	}
	return exitOK
}

// displayURL is a server URL as arqon prints it: a password or a query
// (which may carry a token) is masked.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.RawQuery != "" {
		u.RawQuery = "xxxxx"
	}
	return u.Redacted()
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
