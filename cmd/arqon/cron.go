package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// The options of `arqon cron schedule`. Their bounds are the server's to
// check (it answers VALIDATION_ERROR); arqon only checks their shape.
var (
	optDelay    = option{name: "delay", value: "SECONDS", help: "first firing after SECONDS (may be fractional; server default 1)"}
	optInterval = option{name: "interval", value: "SECONDS", help: "SECONDS between firings (may be fractional; needed with --repeat above 1)"}
	optRepeat   = option{name: "repeat", value: "N", help: "fire N times (a whole number, at least 1; server default 1)"}
)

// lastFiringMargin is how long `arqon cron schedule` keeps its connection
// open after the job's last firing is due, so that the firing is not
// cancelled by the disconnect.
const lastFiringMargin = time.Second

// cronRequest builds the op.cron.* command of a cron subcommand from its
// checked positional arguments and options.
func cronRequest(sc subcommand, args []string, opts map[string]string) (*protocol.Envelope, error) {
	cmdArgs := map[string]any{}
	switch sc.name {
	case "cron schedule":
		room, channel, err := roomChannel(args[0])
		if err != nil {
			return nil, err
		}
		payload, err := jsonObject("the payload", args[1])
		if err != nil {
			return nil, err
		}
		cmdArgs["room"], cmdArgs["channel"], cmdArgs["payload"] = room, channel, payload
	case "cron cancel":
		cmdArgs["job_id"] = args[0]
	}
	for name, value := range opts {
		switch name {
		case optDelay.name, optInterval.name:
			// The server checks the range; arqon refuses only what is no
			// number of seconds (NaN, Inf, negative, absurdly large).
			f, err := strconv.ParseFloat(value, 64)
			if err != nil || !(f >= 0) || f > 1e9 {
				return nil, fmt.Errorf("--%s must be a number of seconds, got %q", name, value)
			}
			cmdArgs[name+"_seconds"] = f
		case optRepeat.name:
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--repeat must be a whole number of at least 1, got %q", value)
			}
			cmdArgs["repeat_count"] = n
		}
	}
	op := strings.TrimPrefix(sc.name, "cron ")
	return &protocol.Envelope{Type: protocol.TypeCommand, Command: "op.cron." + op, Args: protocol.Object(cmdArgs)}, nil
}

// scheduledJob is what arqon reads of an op.cron.schedule reply.
type scheduledJob struct {
	ID       string  `json:"job_id"`
	Delay    float64 `json:"delay_seconds"`
	Interval float64 `json:"interval_seconds"`
	Repeat   int     `json:"repeat_count"`
}

// lastFiring is how long after scheduling the job's last firing is due
// (at most about a century, where a time.Duration would overflow).
func (j scheduledJob) lastFiring() time.Duration {
	secs := j.Delay + float64(max(j.Repeat-1, 0))*j.Interval
	if limit := 100 * 365 * 24 * time.Hour; secs >= limit.Seconds() {
		return limit
	}
	return time.Duration(secs * float64(time.Second))
}

// keepJob keeps the connection, and with it the job just scheduled, open
// until the job's last firing is due (plus lastFiringMargin): a job ends
// with its owner's connection. A signal ends it at once (exit 0, the job
// is cancelled by the disconnect); so does the connection ending (exit 1).
func keepJob(ctx context.Context, c *client.Client, r *protocol.Envelope, stderr io.Writer) int {
	var reply struct {
		Data scheduledJob `json:"data"`
	}
	if err := json.Unmarshal(r.Payload, &reply); err != nil || reply.Data.ID == "" {
		fmt.Fprintf(stderr, "arqon: the reply names no job: %s\n", r.Payload)
		return exitFailure
	}
	fmt.Fprintf(stderr, "arqon: job %s scheduled; keeping the connection open until its last firing (Ctrl-C cancels it)\n", reply.Data.ID)
	wait, cancel := context.WithTimeout(ctx, reply.Data.lastFiring()+lastFiringMargin)
	defer cancel()
	for {
		// Frames that arrive meanwhile (none, unless the server sends
		// some unasked) are read and dropped, so they cannot pile up.
		_, err := c.Recv(wait)
		switch {
		case ctx.Err() != nil, wait.Err() != nil:
			return exitOK
		case err == nil:
			continue
		}
		if code, text := c.CloseCode(); code != 0 {
			fmt.Fprintf(stderr, "arqon: connection ended before the job's last firing (close %d %s)\n", code, text)
		} else {
			fmt.Fprintf(stderr, "arqon: connection ended before the job's last firing: %v\n", c.Err())
		}
		return exitFailure
	}
}
