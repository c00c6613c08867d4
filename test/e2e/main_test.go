//go:build e2e

// Package e2e tests the arqonbus binary from a user's point of view: it is
// built once (testutil.Binary), started with a clean environment, flags and
// signals, and driven through real WebSocket and HTTP clients. Nothing here
// reaches into the server's packages.
//
// Files:
//   - serve_test.go: a dev server routes messages, answers commands and
//     serves the ops endpoints.
//   - shutdown_test.go: SIGTERM drains, a second signal exits at once.
//   - preflight_test.go: configuration and preflight failures exit 2 before
//     binding; preflight, config print, flags over variables.
//   - auth_test.go: JWT at the handshake, the token subcommand.
//   - tenant_test.go: tenants never see each other's rooms or clients.
//   - cli_test.go: version, help and subcommand mistakes of both binaries;
//     the arqon client CLI (testutil.StartArqon): tail's join line, Ctrl-C
//     ending it at once even with its output stalled.
//   - redis_test.go: storage against a real Redis: strict refusing to start,
//     degraded starting and recovering, Redis stopped and paused under a
//     publishing load (every acknowledged id is in Redis afterwards).
//   - cluster_test.go: two binaries sharing one Redis share rooms, direct
//     messages and history.
//   - soak_test.go (tags e2e,soak; `make soak`): a hostile tenant beside a
//     well-behaved one for SOAK_DURATION; loss, p99 latency and RSS.
//
// Run with `make test-e2e` or
// `go test -race -tags e2e -count=1 ./test/e2e/...`.
package e2e

import (
	"testing"

	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestMain fails the package when a goroutine of the test process leaks
// (clients and HTTP connections must all be closed) and removes the shared
// Redis, once there is one.
func TestMain(m *testing.M) { redistest.RunMain(m) }
