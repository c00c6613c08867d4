package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary play the floor writer: the floor workload
// re-executes its own binary, which under go test is this one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == floorWriter {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
