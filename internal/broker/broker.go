// Package broker carries deliveries to every node's hub. The memory broker
// serves one node; the Redis broker (pub/sub) lets several nodes share rooms.
// Local and remote publishes take the same path: publish → broker → hub.
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

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("broker closed")
