// Package app wires ArqonBus together and runs it: configuration, preflight,
// storage, broker, hub, transport and ops endpoints, then shutdown in reverse
// order. Run is the whole program; main only calls it.
package app

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/arqonbus/arqonbus/internal/ops"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Build information, set with -ldflags "-X …app.version=… -X …app.commit=…".
var (
	version = "dev"
	commit  = ""
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure, or a second signal during shutdown
	exitConfig  = 2 // configuration or preflight problem; nothing was bound
)

// Env is the process environment the program reads.
type Env struct {
	Args    []string // without the program name
	Environ []string // KEY=value, as os.Environ
	Stdout  io.Writer
	Stderr  io.Writer
}

// Run executes one arqonbus command line and returns the exit status.
func Run(ctx context.Context, env Env) int {
	args := env.Args
	cmd := "serve"
	if len(args) > 0 && (isHelp(args[0]) || !strings.HasPrefix(args[0], "-")) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, env, args)
	case "preflight":
		return preflight(ctx, env, args)
	case "config":
		const configUsage = "usage: arqonbus config print [flags]   (the flags of serve; arqonbus serve --help lists them)"
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprintln(env.Stdout, configUsage)
			return exitOK
		}
		if len(args) == 0 || args[0] != "print" {
			fmt.Fprintln(env.Stderr, configUsage)
			return exitConfig
		}
		return configPrint(env, args[1:])
	case "version":
		v := versionInfo()
		fmt.Fprintf(env.Stdout, "arqonbus %s (commit %s, %s, protocol %s)\n", v.Version, v.Commit, v.Go, v.Protocol)
		return exitOK
	case "token":
		return token(env, args)
	case "help", "-h", "-help", "--help":
		usage(env.Stdout)
		return exitOK
	default:
		fmt.Fprintf(env.Stderr, "arqonbus: unknown command %q\n", cmd)
		usage(env.Stderr)
		return exitConfig
	}
}

// isHelp reports whether arg asks for help, in any spelling the flag
// package accepts.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  arqonbus [serve] [flags]        serve ArqonBus (flags override ARQONBUS_* variables)
  arqonbus preflight [flags]      run the startup checks and exit 0 (ok) or 2 (problems)
  arqonbus config print [flags]   show the effective configuration, secrets redacted
  arqonbus token [--sub S --tenant T --role R --ttl D]   mint a token with ARQONBUS_AUTH_JWT_SECRET
  arqonbus token check <jwt>      explain whether the configured verifier accepts a token
  arqonbus version                print the version
Each command's --help tells more. The client CLI is arqon (arqon --help).
`)
}

func versionInfo() ops.VersionInfo {
	c := commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	return ops.VersionInfo{Service: "arqonbus", Version: version, Commit: c, Go: runtime.Version(), Protocol: protocol.Version}
}
