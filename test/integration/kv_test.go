//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/kv/kvtest"
	"github.com/arqonbus/arqonbus/internal/kv/rediskv"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

// newKVStore returns a key-value store on the shared Redis under a key
// prefix of its own.
func newKVStore(t *testing.T, srv *redistest.RedisServer, clock *kvtest.Clock) *rediskv.Store {
	t.Helper()
	s, err := rediskv.New(rediskv.Options{
		Client: redistest.RedisClient(t, srv), Prefix: srv.Prefix(t), Limits: kvtest.Limits, Clock: clock.Now,
	})
	require.NoError(t, err)
	return s
}

func TestRedisKVStoreMeetsTheKVContractOnRealRedis(t *testing.T) {
	t.Parallel()
	kvtest.Run(t, func(t *testing.T, clock *kvtest.Clock) kv.Store {
		return newKVStore(t, redistest.Redis(t), clock)
	})
}

// TestKVStoreKeysOfATenantShareOneHashTag checks the Redis Cluster layout
// on the keys a real Redis holds: every key of a tenant has the same
// non-empty hash tag (the part Cluster hashes), so each script touches one
// slot, whatever braces the tenant and namespace names hold.
func TestKVStoreKeysOfATenantShareOneHashTag(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	s := newKVStore(t, srv, kvtest.NewClock())
	ctx := context.Background()
	for _, ns := range []string{"default", "a:b", "}{x"} {
		_, err := s.Set(ctx, kv.Space{Tenant: "ac{me}:1", Namespace: ns}, "k", []byte(`1`), time.Hour)
		require.NoError(t, err)
	}
	c := redistest.RedisClient(t, srv)
	keys, err := c.Keys(ctx, "*ac%7Bme%7D%3A1*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 8, "a count, a namespace set, and a hash and an expiry set per namespace: %v", keys)
	tags := map[string]bool{}
	for _, k := range keys {
		tags[hashTag(k)] = true
	}
	assert.Len(t, tags, 1, "keys %v have different hash tags", keys)
	assert.NotContains(t, tags, "", "an empty tag hashes the whole key")
}

// hashTag is the part of key Redis Cluster hashes: what lies between the
// first '{' and the first '}' after it, when that is not empty.
func hashTag(key string) string {
	_, after, ok := strings.Cut(key, "{")
	if !ok {
		return ""
	}
	tag, _, ok := strings.Cut(after, "}")
	if !ok {
		return ""
	}
	return tag
}
