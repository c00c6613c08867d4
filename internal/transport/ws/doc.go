// Package ws is the WebSocket transport: the upgrade with its checks (drain,
// origin, authentication, then the connection caps of caps.go: the node's,
// and the shares of a tenant, a subject or an address), then a reader and a
// writer per connection. Fan-out only ever enqueues into the connection's
// byte-bounded send queue; a queue over its bound drops the client with
// 4008. A connection that sent operator.join is also a worker of the work queue
// (task.go): task deliveries take the same queue and the same bound, and
// response frames naming a task id are the worker's answers.
//
// Concurrency: Server is safe for concurrent use. Each connection has two
// goroutines at most:
//   - the reader (reader.go), started by ServeHTTP after the upgrade, lives
//     as long as the connection. It handles frames one after another. On
//     Linux it parks, with a shallow stack, until the socket is readable;
//     each frame is read into a pooled buffer, reused once the frame is
//     handled, so an idle connection holds no read buffer.
//   - the writer (writer.go) is started by the send queue (queue.go) when
//     there is something to write and exits after a second without work, so
//     an idle connection holds no writer either. It is the only writer of
//     the socket: it takes everything queued and writes it with one call.
//
// Senders and the writer meet only in the send queue, under its lock; the
// queue's done channel is the one signal that the writer has finished.
// Shutdown stops new connections first, then closes every connection with
// 1001 after its queued frames are flushed, and waits for the connection
// goroutines.
package ws
