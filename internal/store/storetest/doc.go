// Package storetest is the contract every store.Store must meet, written
// once and run against each backend: memstore, redisstore on miniredis, the
// storage policy, and real Redis in the integration tier.
//
// Concurrency: Run's subtests run in parallel, each on a store of its own;
// the factory must be safe to call from several goroutines.
package storetest
