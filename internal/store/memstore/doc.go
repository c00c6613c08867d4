// Package memstore keeps message history in process memory: one ring of the
// newest maxPerKey messages per store.Key. It is the memory backend and the
// fallback the degraded storage mode writes to while Redis is away.
//
// Memory is bounded per key, not per store: a key's ring lives until Close
// (rooms come and go, but their history should outlive their members).
//
// Concurrency: a Store is safe for concurrent use. Keys are spread over
// sharded maps and every ring has its own mutex, so appends to different keys
// never wait on each other; critical sections only copy envelope headers.
package memstore
