package memstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// BenchmarkAppend measures the publish-path cost: one key, and many keys
// written from parallel goroutines (the sharded case).
func BenchmarkAppend(b *testing.B) {
	keys := make([]store.Key, 256)
	for i := range keys {
		keys[i] = store.Key{Tenant: "acme", Room: fmt.Sprintf("room%d", i), Channel: "main"}
	}
	// The parallel store's rings hold 1000: they fill quickly, so the
	// benchmark measures the steady state, not growth.
	benchAppends(b, keys, func() *memstore.Store { return memstore.New(10000) }, func() *memstore.Store { return memstore.New(1000) })
}

// BenchmarkAppendUnderBudget measures Append when every append passes the
// byte budget and evicts: the steady state of a node whose history is full.
func BenchmarkAppendUnderBudget(b *testing.B) {
	keys := make([]store.Key, 256)
	for i := range keys {
		keys[i] = store.Key{Tenant: fmt.Sprintf("t%d", i%8), Room: fmt.Sprintf("room%d", i), Channel: "main"}
	}
	opts := memstore.Options{MaxPerKey: 1000, MaxBytes: 4 << 20, TenantMaxBytes: 1 << 20}
	open := func() *memstore.Store { return memstore.NewWithOptions(opts) }
	benchAppends(b, keys, open, open)
}

// benchAppends runs "one key" on a store from one and "parallel keys"
// (appends spread over keys from parallel goroutines) on a store from
// parallel.
func benchAppends(b *testing.B, keys []store.Key, one, parallel func() *memstore.Store) {
	ctx := context.Background()
	b.Run("one key", func(b *testing.B) {
		s := one()
		defer s.Close()
		m := storetest.Msg(key, 1)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Append(ctx, key, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel keys", func(b *testing.B) {
		s := parallel()
		defer s.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			m := storetest.Msg(key, 1)
			i := 0
			for pb.Next() {
				i++
				if err := s.Append(ctx, keys[i%len(keys)], m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkHistory reads the newest 50 of a full 10000-entry ring, and a
// page bounded by an id near the newest end.
func BenchmarkHistory(b *testing.B) {
	ctx := context.Background()
	s := memstore.New(10000)
	for i := range 10000 {
		if err := s.Append(ctx, key, storetest.Msg(key, i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		q    store.Query
	}{
		{"newest 50", store.Query{Limit: 50}},
		{"since id", store.Query{Limit: 50, SinceID: "m09900"}},
		{"since time", store.Query{Limit: 50, SinceTime: storetest.Msg(key, 9900).Timestamp}},
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
