package redisstore

import (
	"strings"

	"github.com/arqonbus/arqonbus/internal/rediskey"
	"github.com/arqonbus/arqonbus/internal/store"
)

// keyNames are the three Redis keys of one history stream. They share the
// hash tag "{tenant:room:channel}" so Redis Cluster keeps them in one slot,
// which the append script needs.
type keyNames struct {
	stream string // the entries
	index  string // message id -> entry id
	order  string // "<entry id> <message id>" per entry, oldest first
}

// keysFor builds the key names of k under prefix:
//
//	<prefix>{<tenant>:<room>:<channel>}:stream|index|order
//
// Each part is escaped first (see rediskey), so ':' only ever separates
// parts and '{' '}' never appear inside the tag: a:b/c and a/b:c differ.
func keysFor(prefix string, k store.Key) keyNames {
	var b strings.Builder
	b.Grow(len(prefix) + len(k.Tenant) + len(k.Room) + len(k.Channel) + 4)
	b.WriteString(prefix)
	b.WriteByte('{')
	rediskey.WriteEscaped(&b, k.Tenant)
	b.WriteByte(':')
	rediskey.WriteEscaped(&b, k.Room)
	b.WriteByte(':')
	rediskey.WriteEscaped(&b, k.Channel)
	b.WriteByte('}')
	base := b.String()
	return keyNames{stream: base + ":stream", index: base + ":index", order: base + ":order"}
}
