package redisstore

import (
	"strings"

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
// Each part is escaped first (see needsEscape), so ':' only ever separates
// parts and '{' '}' never appear inside the tag: a:b/c and a/b:c differ.
func keysFor(prefix string, k store.Key) keyNames {
	var b strings.Builder
	b.Grow(len(prefix) + len(k.Tenant) + len(k.Room) + len(k.Channel) + 4)
	b.WriteString(prefix)
	b.WriteByte('{')
	writeEscaped(&b, k.Tenant)
	b.WriteByte(':')
	writeEscaped(&b, k.Room)
	b.WriteByte(':')
	writeEscaped(&b, k.Channel)
	b.WriteByte('}')
	base := b.String()
	return keyNames{stream: base + ":stream", index: base + ":index", order: base + ":order"}
}

// needsEscape reports the bytes writeEscaped percent-escapes because they
// would make key names ambiguous or break the hash tag: '%', ':', '{', '}',
// control bytes and DEL. Every other byte, UTF-8 included, stays as it is so
// keys remain readable.
func needsEscape(c byte) bool {
	return c == '%' || c == ':' || c == '{' || c == '}' || c < 0x20 || c == 0x7f
}

func writeEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !needsEscape(c) {
			continue
		}
		b.WriteString(s[start:i])
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
		start = i + 1
	}
	b.WriteString(s[start:])
}
