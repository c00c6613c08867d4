package redisstore

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// BenchmarkAppend runs the append script against miniredis: it measures our
// client-side cost and the round trip, not Redis (the integration tier
// benchmarks real Redis).
func BenchmarkAppend(b *testing.B) {
	s := newStore(b, miniredis.RunT(b), Options{MaxLen: 1000})
	ctx := context.Background()
	m := storetest.Msg(key, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(ctx, key, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistory reads 50 messages of a 1000-entry stream, unbounded and
// bounded by a message id (two round trips).
func BenchmarkHistory(b *testing.B) {
	s := newStore(b, miniredis.RunT(b), Options{MaxLen: 1000})
	ctx := context.Background()
	for i := range 1000 {
		if err := s.Append(ctx, key, storetest.Msg(key, i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		q    store.Query
	}{
		{"newest 50", store.Query{Limit: 50}},
		{"since id", store.Query{Limit: 50, SinceID: "m00900"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.History(ctx, key, c.q)
				if err != nil || len(p.Messages) != 50 {
					b.Fatal(err, len(p.Messages))
				}
			}
		})
	}
}
