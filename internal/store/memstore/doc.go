// Package memstore keeps message history in process memory: one ring of the
// newest maxPerKey messages per store.Key. It is the memory backend and the
// fallback the degraded storage mode writes to while Redis is away.
//
// Memory is bounded three ways. Per key, by the ring size. Per store and
// per tenant, by bytes (Options.MaxBytes, Options.TenantMaxBytes, counted
// with store.Size): past a limit the oldest messages go first, the
// tenant's own before anyone else's, so one tenant flooding rooms cannot
// push another's history out. In time, by Options.TTL: a key with no
// append for that long is dropped. A ring left empty is freed; history
// still outlives the room's members, which is why rooms with no members
// are bounded this way rather than by membership.
//
// Concurrency: a Store is safe for concurrent use. Keys are spread over
// sharded maps and every ring has its own mutex, so appends to different keys
// never wait on each other; critical sections only copy envelope headers.
// With a byte budget every Append also takes the budget's one mutex for a
// few queue operations; evicted messages are dropped from their rings after
// it is released.
package memstore
