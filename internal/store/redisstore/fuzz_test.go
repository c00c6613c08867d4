package redisstore

import (
	"net/url"
	"strings"
	"testing"

	"github.com/arqonbus/arqonbus/internal/store"
)

// FuzzStreamKey checks the key escaping on arbitrary (tenant, room, channel)
// triples: the name decodes back to exactly its parts (so two different
// triples never share a stream), and the hash tag holds nothing that could
// end it early.
func FuzzStreamKey(f *testing.F) {
	for _, seed := range [][3]string{
		{"", "a:b", "c"}, {"", "a", "b:c"}, {"x", "", ""}, {"x:", "", ""},
		{"t", "%3A", ":"}, {"t", "}{", "{}"}, {"t", "r\x00", "c\x7f"}, {"é", "日本", "😀"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, tenant, room, channel string) {
		const prefix = "p:"
		k := keysFor(prefix, store.Key{Tenant: tenant, Room: room, Channel: channel})
		if !strings.HasPrefix(k.stream, prefix+"{") || !strings.HasSuffix(k.stream, "}:stream") {
			t.Fatalf("unexpected shape %q", k.stream)
		}
		tag := strings.TrimSuffix(strings.TrimPrefix(k.stream, prefix+"{"), "}:stream")
		if strings.ContainsAny(tag, "{}") {
			t.Fatalf("hash tag %q holds a brace", tag)
		}
		parts := strings.Split(tag, ":")
		if len(parts) != 3 {
			t.Fatalf("tag %q has %d parts", tag, len(parts))
		}
		for i, want := range []string{tenant, room, channel} {
			got, err := url.PathUnescape(parts[i])
			if err != nil || got != want {
				t.Fatalf("part %d of %q decodes to %q (%v), want %q", i, tag, got, err, want)
			}
		}
		if k.index != strings.TrimSuffix(k.stream, "stream")+"index" || k.order != strings.TrimSuffix(k.stream, "stream")+"order" {
			t.Fatalf("index/order keys do not share the stream's tag: %+v", k)
		}
	})
}
