// Package redisstore keeps message history in Redis Streams: one stream per
// (tenant, room, channel), trimmed with XADD MAXLEN ~, with a message-id index
// kept in step by one Lua script so history can be bounded by message id.
// It works with a single node, Sentinel or Cluster (redis.UniversalClient).
//
// Every call runs under the configured timeout; backend failures wrap
// store.ErrUnavailable. Damaged stored fields are logged, counted and left
// empty, never dropping the entry.
//
// Concurrency: a Store is safe for concurrent use; it holds no state of its
// own beyond the client's connection pool.
package redisstore
