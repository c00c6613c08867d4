// Package regression pins every defect this server fixes: each one the
// Python implementation shipped (the items marked "(fix)" in SPEC.md, plus
// the behaviours the rewrite was asked to get right) and every bug fixed
// since. A fix without a test here can come back unnoticed; a test here
// must fail the moment its fix is reverted, so each one asserts the specific
// behaviour of the contract, never just "it did not crash".
//
// The tier runs in plain `go test ./...`: servers are in-process
// (testutil.StartServer, or app.Run for the entry point) and Redis is
// miniredis. The exceptions need a Redis that can be paused, which miniredis
// cannot: the harness's own fault controls, and a write that Redis runs
// after its sender gave up. They use redistest.RedisWithFaults: a container
// when a Docker engine answers, else a redis-server process (they skip on a
// laptop with neither, and fail under CI).
//
// Rules for adding a test:
//
//   - One test per defect, named TestRegression_<WhatHoldsNow>, the name
//     reading as the contract that holds now ("…AreAccepted",
//     "…IsNotDelivered"), not as the bug.
//   - Its doc comment tells the story in two to five lines: what the old
//     behaviour was, why it hurt, and what the contract is now, citing the
//     SPEC section.
//   - Assert the observable answer a client or operator sees (error code,
//     close code, HTTP status, exit status, the exact bytes on the wire),
//     and where it helps, a control case that shows the assertion can pass
//     and fail.
//   - Wait with deadlines (testutil.Eventually, Expect, ExpectClose), never
//     with a bare sleep; the package's TestMain fails on leaked goroutines.
package regression
