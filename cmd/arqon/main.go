// Command arqon is the ArqonBus client CLI: tail a room, publish, run a
// command, show status.
//
//	arqon [--url ws://127.0.0.1:9100/ws] [--token JWT] tail ROOM:CHANNEL
//	arqon publish ROOM:CHANNEL '{"text":"hello"}'
//	arqon command NAME ['{"arg":"value"}']
//	arqon status
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: arqon [--url URL] [--token JWT] [--timeout D] COMMAND
commands:
  tail ROOM:CHANNEL            join and print every frame that arrives (Ctrl-C to stop)
  publish ROOM:CHANNEL JSON    publish a JSON object payload and print the ack
  command NAME [JSON]          run a command with JSON object args and print the reply
  status                       the server's status
environment: ARQON_URL, ARQON_TOKEN (flags win)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arqon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", envOr(getenv, "ARQON_URL", "ws://127.0.0.1:9100/ws"), "server WebSocket URL")
	token := fs.String("token", getenv("ARQON_TOKEN"), "bearer token")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout for connecting and for each reply")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	rest := fs.Args()
	dialCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := client.Dial(dialCtx, *url, client.Options{Token: *token})
	if err != nil {
		fmt.Fprintf(stderr, "arqon: connect %s: %v\n", *url, err)
		return 1
	}
	defer c.Close()
	reqCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, *timeout) }

	switch rest[0] {
	case "tail":
		if len(rest) != 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		room, channel, ok := strings.Cut(rest[1], ":")
		if !ok {
			fmt.Fprintln(stderr, "arqon: tail needs ROOM:CHANNEL")
			return 2
		}
		rc, cancel := reqCtx()
		err := c.Join(rc, room, channel)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "arqon: join: %v\n", err)
			return 1
		}
		for {
			env, err := c.Recv(ctx)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return 0
				}
				code, text := c.CloseCode()
				fmt.Fprintf(stderr, "arqon: connection ended (close %d %s)\n", code, text)
				return 1
			}
			fmt.Fprintf(stdout, "%s\n", protocol.Encode(env))
		}
	case "publish":
		if len(rest) != 3 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		room, channel, ok := strings.Cut(rest[1], ":")
		if !ok || !json.Valid([]byte(rest[2])) || !strings.HasPrefix(strings.TrimSpace(rest[2]), "{") {
			fmt.Fprintln(stderr, "arqon: publish needs ROOM:CHANNEL and a JSON object")
			return 2
		}
		rc, cancel := reqCtx()
		defer cancel()
		r, err := c.Request(rc, &protocol.Envelope{Type: protocol.TypeMessage, Room: room, Channel: channel, Payload: json.RawMessage(rest[2])})
		return printReply(stdout, stderr, r, err)
	case "command", "status":
		name, args := "status", json.RawMessage(nil)
		if rest[0] == "command" {
			if len(rest) < 2 || len(rest) > 3 {
				fmt.Fprint(stderr, usage)
				return 2
			}
			name = rest[1]
			if len(rest) == 3 {
				args = json.RawMessage(rest[2])
				if !json.Valid(args) {
					fmt.Fprintln(stderr, "arqon: command args must be a JSON object")
					return 2
				}
			}
		}
		rc, cancel := reqCtx()
		defer cancel()
		r, err := c.Request(rc, &protocol.Envelope{Type: protocol.TypeCommand, Command: name, Args: args})
		return printReply(stdout, stderr, r, err)
	default:
		fmt.Fprintf(stderr, "arqon: unknown command %q\n%s", rest[0], usage)
		return 2
	}
}

func printReply(stdout, stderr io.Writer, r *protocol.Envelope, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "arqon: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", protocol.Encode(r))
	if client.ReplyError(r) != nil {
		return 1
	}
	return 0
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
