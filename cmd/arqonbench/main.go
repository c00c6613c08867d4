// Command arqonbench is the ArqonBus load generator: fan-out to many
// subscribers, many channels with round trips, many idle connections and
// the work queue from submit to worker, all speaking the ArqonBus protocol
// through internal/client; and, with no server at all, the floor that
// loopback TCP puts under fan-out on this machine. Run `arqonbench WORKLOAD -h` for the flags of a workload.
//
//	arqonbench fanout   --subscribers 1000 --rate 1000 --duration 10s --payload 128 --json \
//	                    --metrics-url http://127.0.0.1:9100/metrics
//	arqonbench channels --clients 1000 --rate 10 --duration 10s --json
//	arqonbench idle     --connections 19000 --server-pid PID --metrics-url http://127.0.0.1:9100/metrics
//	arqonbench floor    --connections 1000 --rate 100 --duration 10s --writer-cpu 0 --json
//	arqonbench tasks    --workers 8 --submitters 4 --tasks 20000 --rate max --json
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
