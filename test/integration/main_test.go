//go:build integration

// Package integration proves the storage contract (SPEC §7) against a real
// Redis, with real failures: containers stopped, paused and restarted under
// an in-process server.
//
// Files:
//   - contract_test.go: the store contract suite on real Redis, bare and
//     under the strict and degraded policies.
//   - keys_test.go: key escaping, MAXLEN trimming with the id index, TTL.
//   - strict_test.go, degraded_test.go: one server per test on a Redis of its
//     own that the test stops, pauses and restarts; what the sender, a peer,
//     /readyz, the metrics and the log say.
//   - decode_test.go: a damaged stored entry is served, logged and counted.
//   - durability_test.go: no acknowledged message is missing after restarts;
//     strict mode refuses to start without Redis.
//   - chaos_test.go: 50 publishers while Redis is paused, stopped and
//     restarted, in both modes; load_test.go runs such publishers.
//   - multinode_test.go: two nodes sharing one Redis, also across restarts.
//   - presence_test.go: a stopped node's presence keys expire within one
//     lifetime; a live node's are renewed.
//   - bench_test.go: append and history latency on real Redis.
//   - history_reads_test.go: one tenant's large history reads on many
//     connections leave strict storage ready and another tenant's acks fast.
//   - helpers_test.go: servers on a Redis, /readyz, history, stream reads.
//
// Tests that only read and write use the shared redistest.Redis with a key
// prefix (or room names) of their own and run in parallel; tests that inject
// faults take a Redis of their own from redistest.RedisWithFaults.
//
// Run with `make test-integration` or
// `go test -race -count=1 -tags integration ./test/integration/...`.
package integration

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// TestMain removes the shared Redis and fails the package on leaked
// goroutines. go-redis backs off a failed dial in a goroutine that outlives
// its client by up to a second, which is not a leak. go-redis's own log
// (dial failures while Redis is down on purpose) is silenced first, before
// any client exists: servers report Redis trouble in their own logs.
func TestMain(m *testing.M) {
	app.RouteRedisLogs(slog.New(slog.DiscardHandler))
	redistest.RunMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
