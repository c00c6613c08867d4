// Package rediskey is the one escaping rule for the parts of Redis key
// names: history streams (store/redisstore) and the key-value lane
// (kv/rediskv) build their names from caller-chosen strings (tenant, room,
// channel, namespace) and must never let two different tuples name the
// same key or break a hash tag. It imports nothing.
package rediskey

import "strings"

// NeedsEscape reports the bytes WriteEscaped percent-escapes because they
// would make key names ambiguous or break a hash tag: '%', ':', '{', '}',
// control bytes and DEL. Every other byte, UTF-8 included, stays as it is
// so keys remain readable.
func NeedsEscape(c byte) bool {
	return c == '%' || c == ':' || c == '{' || c == '}' || c < 0x20 || c == 0x7f
}

// WriteEscaped writes s to b with every byte NeedsEscape names as %XX.
// After escaping, ':' only ever separates parts and '{' '}' never appear
// inside a part, so a:b/c and a/b:c name different keys.
func WriteEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !NeedsEscape(c) {
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

// Escape returns s escaped as WriteEscaped writes it; s itself when
// nothing needs escaping.
func Escape(s string) string {
	i := 0
	for i < len(s) && !NeedsEscape(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	WriteEscaped(&b, s)
	return b.String()
}
