// Package broker carries deliveries to every node's hub. The memory broker
// serves one node; the Redis broker (pub/sub) lets several nodes share rooms.
// Local and remote publishes take the same path: publish → broker → hub,
// except that a store may send a stored message's copy for the other nodes
// with its write (Announcer).
//
// Concurrency: brokers are safe for concurrent use; Publish never blocks on a
// client socket.
package broker

import (
	"context"
	"errors"
)

// Delivery is one encoded frame and where it goes: a tenant's (room, channel)
// pair, or one client (ToClient). SenderID is excluded from fan-out.
type Delivery struct {
	Tenant   string
	Room     string
	Channel  string
	ToClient string
	SenderID string
	Frame    []byte
}

// Direct reports whether d is a direct message.
func (d *Delivery) Direct() bool { return d.ToClient != "" }

// Local is the node's hub as the broker sees it.
type Local interface {
	// Deliver enqueues d to the local recipients and returns their number.
	Deliver(d *Delivery) int
	// HasClient reports whether a client of tenant is connected here.
	HasClient(tenant, clientID string) bool
	// EachClient calls f for every client connected here.
	EachClient(f func(tenant, clientID string))
}

// Broker publishes deliveries to all nodes.
type Broker interface {
	// Publish delivers d on this node and hands it to the other nodes. It
	// returns the number of local recipients.
	Publish(ctx context.Context, d *Delivery) (int, error)
	// HasClient reports whether the client is connected to any node.
	HasClient(ctx context.Context, tenant, clientID string) (bool, error)
	// Connected and Disconnected tell the broker about this node's clients
	// (for presence across nodes). They never block.
	Connected(tenant, clientID string)
	Disconnected(tenant, clientID string)
	// Close stops the broker; it is idempotent.
	Close() error
}

// Announcer is a broker whose message to the other nodes can be sent by
// another write to the same engine (the Redis store publishes it from its
// append script), so a stored message needs one round trip, not two.
type Announcer interface {
	Broker
	// Announcement returns d's message for the other nodes: the channel
	// they listen on, a channel only this node listens on (on the same
	// connection; "" when subscriber counts cannot tell, as in Redis
	// Cluster), and the body. The body is the caller's to keep.
	Announcement(d *Delivery) (channel, self string, body []byte)
	// DeliverLocal delivers d on this node alone, for a delivery whose
	// announcement was sent.
	DeliverLocal(d *Delivery) int
}

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("broker closed")
