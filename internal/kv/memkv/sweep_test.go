package memkv_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/kv/kvtest"
	"github.com/arqonbus/arqonbus/internal/kv/memkv"
)

// TestWritesSweepExpiredKeysNobodyReads: a tenant whose expired keys are
// never read again loses them to other tenants' writes.
func TestWritesSweepExpiredKeysNobodyReads(t *testing.T) {
	clock := kvtest.NewClock()
	s := memkv.New(memkv.Options{Clock: clock.Now})
	ctx := context.Background()
	idle := kv.Space{Tenant: "idle", Namespace: "default"}
	for _, k := range []string{"a", "b", "c"} {
		_, err := s.Set(ctx, idle, k, []byte(`1`), time.Minute)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, s.Keys())
	clock.Advance(time.Hour)
	_, err := s.Set(ctx, kv.Space{Tenant: "busy", Namespace: "default"}, "k", []byte(`1`), 0)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Keys(), "only the busy tenant's key is left")
}
