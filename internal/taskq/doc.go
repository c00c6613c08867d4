// Package taskq is the work queue of the operator plane (SPEC §11.1, the
// prototype RSI operator lane): tasks submitted to a (tenant, group) go to
// the group's live workers, at most Prefetch unfinished per worker, are
// redelivered when a delivery expires or its worker leaves, and are dead
// after MaxAttempts deliveries.
//
// Queue is the storage of tasks, shared by every node of a cluster; its
// backends are memq (one node, in process) and redisq (Redis Streams with a
// consumer group per stream); taskqtest is the contract both meet. The
// Dispatcher is one node's half: it knows the node's workers (connections,
// seen through the Worker interface), claims tasks for them from the Queue
// and hands them over, and routes their completions back.
//
// Concurrency: Queue implementations and the Dispatcher are safe for
// concurrent use.
package taskq
