// Package cron is the scheduler of the cron lane (op.cron.*): one per node,
// a min-heap of next firing times driven by one goroutine and one timer.
//
// Concurrency: a Scheduler is safe for concurrent use. Fire runs on the
// scheduler's goroutine, outside its lock, one firing at a time: it must be
// quick (the publish path stores and enqueues; it never waits on a client),
// because every other job waits for it. A job cancelled while it fires is
// not fired again.
package cron
