package store_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// BenchmarkPolicyAppend is the policy's cost on the publish path over a
// memory primary (mode checks, the operations counter).
func BenchmarkPolicyAppend(b *testing.B) {
	for _, mode := range []string{config.ModeStrict, config.ModeDegraded} {
		b.Run(mode, func(b *testing.B) {
			p := store.NewPolicy(store.PolicyOptions{
				Mode: mode, Primary: memstore.New(10000), Fallback: memstore.New(10000),
				Metrics: metrics.New(prometheus.NewRegistry()),
			})
			b.Cleanup(func() { _ = p.Close() })
			m := storetest.Msg(key, 1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Append(ctx, key, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
