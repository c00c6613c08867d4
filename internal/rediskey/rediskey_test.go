package rediskey

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEscapeKeepsReadableBytesAndEscapesSeparators(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text is unchanged", "science", "science"},
		{"UTF-8 is unchanged", "café☕", "café☕"},
		{"a colon is escaped", "a:b", "a%3Ab"},
		{"braces are escaped", "{x}", "%7Bx%7D"},
		{"the escape byte itself is escaped", "50%", "50%25"},
		{"control bytes and DEL are escaped", "a\nb\x7f", "a%0Ab%7F"},
		{"the empty string stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Escape(tt.in))
		})
	}
}

func TestEscapedPartsJoinedByColonsNeverCollide(t *testing.T) {
	join := func(parts ...string) string {
		out := ""
		for i, p := range parts {
			if i > 0 {
				out += ":"
			}
			out += Escape(p)
		}
		return out
	}
	assert.NotEqual(t, join("a:b", "c"), join("a", "b:c"))
	assert.NotEqual(t, join("a%3Ab", "c"), join("a:b", "c"), "an escaped-looking part is escaped again")
}
