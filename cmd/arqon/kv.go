package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// option is a flag a subcommand takes after its name, anywhere among its
// arguments: --name VALUE or --name=VALUE.
type option struct {
	name  string // without dashes
	value string // placeholder in the synopsis
	help  string
}

func (o option) synopsis() string { return "[--" + o.name + " " + o.value + "]" }

// The options of the kv subcommands. Their bounds are the server's to
// check (it answers VALIDATION_ERROR); arqon only checks their shape.
var (
	optNamespace = option{name: "namespace", value: "NS", help: `a namespace inside your tenant (server default "default")`}
	optTTL       = option{name: "ttl", value: "SECONDS", help: "expire the key after SECONDS (a whole number, at least 1)"}
	optPrefix    = option{name: "prefix", value: "P", help: "only keys starting with P"}
	optLimit     = option{name: "limit", value: "N", help: "at most N keys (a whole number, at least 1; server default 100)"}
)

// splitOptions separates a subcommand's arguments into positional ones and
// its options. "--" ends the options; an argument such as -5 (a negative
// JSON number) is positional.
func splitOptions(sc subcommand, args []string) (positional []string, opts map[string]string, err error) {
	opts = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(positional, args[i+1:]...), opts, nil
		}
		if !looksLikeOption(a) {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !sc.takes(name) {
			return nil, nil, fmt.Errorf("unknown flag %s (%s takes %s)", "--"+name, sc.name, sc.optionNames())
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		opts[name] = value
	}
	return positional, opts, nil
}

// looksLikeOption reports whether a is a flag: dashes, then a letter.
func looksLikeOption(a string) bool {
	rest := strings.TrimLeft(a, "-")
	return len(rest) < len(a) && len(a)-len(rest) <= 2 && rest != "" &&
		('a' <= rest[0] && rest[0] <= 'z' || 'A' <= rest[0] && rest[0] <= 'Z')
}

func (sc subcommand) takes(name string) bool {
	for _, o := range sc.options {
		if o.name == name {
			return true
		}
	}
	return false
}

func (sc subcommand) optionNames() string {
	if len(sc.options) == 0 {
		return "no flags"
	}
	names := make([]string, len(sc.options))
	for i, o := range sc.options {
		names[i] = "--" + o.name
	}
	return strings.Join(names, ", ")
}

// kvRequest builds the op.store.* command of a kv subcommand from its
// checked positional arguments and options.
func kvRequest(sc subcommand, args []string, opts map[string]string) (*protocol.Envelope, error) {
	op := strings.TrimPrefix(sc.name, "kv ")
	cmdArgs := map[string]any{}
	if len(args) > 0 {
		cmdArgs["key"] = args[0]
	}
	if op == "set" {
		v := strings.TrimSpace(args[1])
		if !json.Valid([]byte(v)) || v == "null" {
			return nil, fmt.Errorf(`the value must be JSON other than null (a string is quoted: '"blue"'), got %q`, args[1])
		}
		cmdArgs["value"] = json.RawMessage(v)
	}
	for name, value := range opts {
		switch name {
		case optTTL.name, optLimit.name:
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--%s must be a whole number of at least 1, got %q", name, value)
			}
			if name == optTTL.name {
				cmdArgs["ttl_seconds"] = n
			} else {
				cmdArgs["limit"] = n
			}
		case optNamespace.name:
			if value == "" {
				return nil, fmt.Errorf("--namespace must not be empty")
			}
			cmdArgs["namespace"] = value
		default:
			cmdArgs[name] = value
		}
	}
	return &protocol.Envelope{Type: protocol.TypeCommand, Command: "op.store." + op, Args: protocol.Object(cmdArgs)}, nil
}
