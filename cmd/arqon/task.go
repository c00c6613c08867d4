package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// optDeadLimit is the option of `arqon task dead`. Its bound is the
// server's to check; arqon only checks its shape.
var optDeadLimit = option{name: "limit", value: "N", help: "at most N tasks (a whole number, at least 1)"}

// taskRequest builds the op.task.* command of a task subcommand from its
// checked positional arguments and options. The task of a submit must be a
// JSON object; the group and task id are the server's to check.
func taskRequest(sc subcommand, args []string, opts map[string]string) (*protocol.Envelope, error) {
	cmdArgs := map[string]any{}
	switch sc.name {
	case "task submit":
		task, err := jsonObject("the task", args[1])
		if err != nil {
			return nil, err
		}
		cmdArgs["group"], cmdArgs["task"] = args[0], task
	case "task get":
		cmdArgs["task_id"] = args[0]
	case "task dead":
		cmdArgs["group"] = args[0]
		if v, ok := opts[optDeadLimit.name]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--limit must be a whole number of at least 1, got %q", v)
			}
			cmdArgs["limit"] = n
		}
	}
	op := strings.TrimPrefix(sc.name, "task ")
	return &protocol.Envelope{Type: protocol.TypeCommand, Command: "op.task." + op, Args: protocol.Object(cmdArgs)}, nil
}
