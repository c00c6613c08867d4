// Package taskqtest is the contract every taskq.Queue must meet (SPEC
// §11.1), written once and run against each backend: memq on a fake clock,
// redisq on miniredis and on real Redis.
//
// The suite works in real time too: limits are small (Visibility
// ShortVisibility where a delivery must expire, ResultTTL ResultTTL), every
// wait passes its bound by Margin, and nothing assumes Advance is instant.
// Tests that do not let deliveries expire use a long Visibility, so a slow
// backend never sees a redelivery it did not ask for.
//
// Concurrency: Run's subtests run in parallel, each on a queue of its own;
// the factory must be safe to call from several goroutines.
package taskqtest
