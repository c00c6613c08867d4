package store

import (
	"context"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Locator is an optional Store extension that finds one stored message by
// id. The policy needs it in degraded mode: a history bound given as an id
// names a message held by either the primary or the fallback, and the other
// store can only honour that bound as the message's timestamp.
type Locator interface {
	// Locate returns the message stored under key with the given id; found
	// is false (and err nil) when no such message is stored.
	Locate(ctx context.Context, key Key, id string) (env protocol.Envelope, found bool, err error)
}
