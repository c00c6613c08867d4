// Package bus is the heart of ArqonBus: the hub (clients, (room, channel)
// memberships, fan-out) and the publish pipeline (persist, then hand to the
// broker). It knows nothing of sockets or Redis.
//
// Concurrency: all methods are safe for concurrent use. Fan-out never blocks
// on a client: each Subscriber's Send is a non-blocking enqueue, and the
// member list it walks is immutable. Messages of one sender are delivered in
// the order that sender published them, because a sender publishes from one
// goroutine and fan-out is synchronous.
package bus
