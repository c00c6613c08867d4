package store

import "github.com/arqonbus/arqonbus/internal/protocol"

// DefaultHistoryLimit is the page size used when Query.Limit is not set (the
// history command's default).
const DefaultHistoryLimit = 50

// EffectiveLimit returns q.Limit forced into 1..MaxHistoryLimit, with
// DefaultHistoryLimit for a zero or negative limit. Backends and the policy
// all page with it so that one query means the same everywhere.
func (q Query) EffectiveLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultHistoryLimit
	case q.Limit > MaxHistoryLimit:
		return MaxHistoryLimit
	default:
		return q.Limit
	}
}

// sizeOverhead is what Size adds to the variable-length fields of one
// envelope. It is what a stored message costs beyond them in the memory
// store (the envelope itself, about 400 bytes on 64-bit platforms, and its
// bookkeeping), so a flood of tiny messages cannot hold several times the
// byte budget; on the wire the fixed fields take less (about 150 bytes).
const sizeOverhead = 512

// Size is the size of env that history budgets count (Query.MaxBytes, the
// memory store's byte budget): its variable-length fields plus a fixed
// overhead. It bounds what the message costs in memory and, from above,
// its encoded length.
func Size(env *protocol.Envelope) int {
	return sizeOverhead + len(env.ID) + len(env.Room) + len(env.Channel) + len(env.Sender) +
		len(env.FromClient) + len(env.ToClient) + len(env.Command) + len(env.RequestID) +
		len(env.Error) + len(env.ErrorCode) + len(env.Payload) + len(env.Args) + len(env.Metadata)
}
