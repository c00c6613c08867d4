//go:build integration

package integration

import (
	"context"
	"testing"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// newRedisStore returns a Redis Streams store on the shared Redis under a key
// prefix of its own, dialling its own client (closed with the store).
func newRedisStore(t *testing.T, o redisstore.Options) *redisstore.Store {
	t.Helper()
	srv := redistest.Redis(t)
	o.URL = srv.URL()
	if o.KeyPrefix == "" {
		o.KeyPrefix = srv.Prefix(t)
	}
	if o.MaxLen == 0 {
		o.MaxLen = storetest.MinCapacity
	}
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatalf("redis store: %v", err)
	}
	return s
}

func TestRedisStoreMeetsTheStoreContractOnRealRedis(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return newRedisStore(t, redisstore.Options{})
	})
}

func TestStrictPolicyOverRealRedisMeetsTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		p := store.NewPolicy(store.PolicyOptions{
			Mode: config.ModeStrict, Backend: config.BackendRedis,
			Primary: newRedisStore(t, redisstore.Options{}),
		})
		if err := p.Start(context.Background()); err != nil {
			t.Fatalf("start policy: %v", err)
		}
		return p
	})
}

func TestDegradedPolicyOverRealRedisMeetsTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		p := store.NewPolicy(store.PolicyOptions{
			Mode: config.ModeDegraded, Backend: config.BackendRedis,
			Primary:  newRedisStore(t, redisstore.Options{}),
			Fallback: memstore.New(storetest.MinCapacity),
		})
		if err := p.Start(context.Background()); err != nil {
			t.Fatalf("start policy: %v", err)
		}
		if h := p.Health(); h.State != store.StateOK {
			t.Fatalf("policy over a live Redis starts %q, want ok", h.State)
		}
		return p
	})
}
