// Package kvtest is the contract every kv.Store must meet, written once and
// run against each backend: memkv, rediskv on miniredis, and rediskv on
// real Redis in the integration tier.
//
// Concurrency: Run's subtests run in parallel, each on a store of its own;
// the factory must be safe to call from several goroutines.
package kvtest
