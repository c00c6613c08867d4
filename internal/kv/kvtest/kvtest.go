package kvtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/kv"
)

// Limits are the limits a store under test must be built with: small, so
// the suite reaches them quickly.
var Limits = kv.Limits{MaxValueBytes: 64, MaxKeys: 5}

// Clock is a settable clock the factory passes to the store, so the suite
// can move time past a TTL without waiting.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Factory returns an empty store built with Limits and clock that shares
// nothing with the other stores it returns (a fresh instance or a fresh
// key prefix). Run closes it.
type Factory func(t *testing.T, clock *Clock) kv.Store

var (
	acme    = kv.Space{Tenant: "acme", Namespace: "default"}
	acmeCfg = kv.Space{Tenant: "acme", Namespace: "config"}
	globex  = kv.Space{Tenant: "globex", Namespace: "default"}
)

// Run runs the contract suite.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s kv.Store, clock *Clock)
	}{
		{"a stored value reads back byte for byte", testSetGet},
		{"an unknown key is not found", testMissing},
		{"setting a key again overwrites it and says updated", testOverwrite},
		{"delete removes a key and says whether there was one", testDelete},
		{"a key expires after its ttl", testTTL},
		{"setting a key without ttl clears its expiry", testTTLCleared},
		{"list returns sorted keys with a prefix up to the limit", testList},
		{"two tenants with the same namespace and key never see each other", testTenantIsolation},
		{"namespaces of one tenant never mix", testNamespaceIsolation},
		{"a namespace that looks like another tenant stays in the caller's tenant", testLookalikeNamespace},
		{"separators in tenant, namespace and key never collide", testSeparators},
		{"the key limit counts every namespace of a tenant and no other tenant", testKeyLimit},
		{"expired keys do not count against the key limit", testKeyLimitExpired},
		{"a value over the size limit is refused", testValueLimit},
		{"concurrent writers to one tenant never pass the key limit", testConcurrentLimit},
		{"close is idempotent and later calls fail with ErrClosed", testClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			s := newStore(t, clock)
			t.Cleanup(func() { _ = s.Close() })
			tc.test(t, s, clock)
		})
	}
}

func set(t *testing.T, s kv.Store, sp kv.Space, key, value string) {
	t.Helper()
	_, err := s.Set(context.Background(), sp, key, []byte(value), 0)
	require.NoError(t, err, "set %v %q", sp, key)
}

func get(t *testing.T, s kv.Store, sp kv.Space, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), sp, key)
	require.NoError(t, err, "get %v %q", sp, key)
	return string(v), ok
}

func list(t *testing.T, s kv.Store, sp kv.Space, prefix string, limit int) []string {
	t.Helper()
	keys, err := s.List(context.Background(), sp, prefix, limit)
	require.NoError(t, err)
	return keys
}

func count(t *testing.T, s kv.Store, tenant string) int {
	t.Helper()
	n, err := s.Count(context.Background(), tenant)
	require.NoError(t, err)
	return n
}

func testSetGet(t *testing.T, s kv.Store, _ *Clock) {
	value := `{"a":[1,2,"é\u0000"],"b":null}`
	created, err := s.Set(context.Background(), acme, "k", []byte(value), 0)
	require.NoError(t, err)
	assert.True(t, created)
	got, ok := get(t, s, acme, "k")
	assert.True(t, ok)
	assert.Equal(t, value, got)
	assert.Equal(t, 1, count(t, s, "acme"))
}

func testMissing(t *testing.T, s kv.Store, _ *Clock) {
	v, ok := get(t, s, acme, "nope")
	assert.False(t, ok)
	assert.Empty(t, v)
	assert.Empty(t, list(t, s, acme, "", 0))
	assert.Equal(t, 0, count(t, s, "acme"))
}

func testOverwrite(t *testing.T, s kv.Store, _ *Clock) {
	set(t, s, acme, "k", `1`)
	created, err := s.Set(context.Background(), acme, "k", []byte(`2`), 0)
	require.NoError(t, err)
	assert.False(t, created, "an overwrite is an update")
	got, _ := get(t, s, acme, "k")
	assert.Equal(t, `2`, got)
	assert.Equal(t, 1, count(t, s, "acme"))
}

func testDelete(t *testing.T, s kv.Store, _ *Clock) {
	set(t, s, acme, "k", `1`)
	deleted, err := s.Delete(context.Background(), acme, "k")
	require.NoError(t, err)
	assert.True(t, deleted)
	_, ok := get(t, s, acme, "k")
	assert.False(t, ok)
	deleted, err = s.Delete(context.Background(), acme, "k")
	require.NoError(t, err)
	assert.False(t, deleted, "nothing left to delete")
	assert.Equal(t, 0, count(t, s, "acme"))
}

func testTTL(t *testing.T, s kv.Store, clock *Clock) {
	_, err := s.Set(context.Background(), acme, "short", []byte(`1`), 10*time.Second)
	require.NoError(t, err)
	set(t, s, acme, "long", `2`)
	clock.Advance(9 * time.Second)
	_, ok := get(t, s, acme, "short")
	assert.True(t, ok, "not yet expired")
	clock.Advance(time.Second)
	_, ok = get(t, s, acme, "short")
	assert.False(t, ok, "expired at its ttl")
	assert.Equal(t, []string{"long"}, list(t, s, acme, "", 0))
	assert.Equal(t, 1, count(t, s, "acme"))
	deleted, err := s.Delete(context.Background(), acme, "short")
	require.NoError(t, err)
	assert.False(t, deleted, "an expired key is not there to delete")
}

func testTTLCleared(t *testing.T, s kv.Store, clock *Clock) {
	_, err := s.Set(context.Background(), acme, "k", []byte(`1`), time.Second)
	require.NoError(t, err)
	set(t, s, acme, "k", `2`)
	clock.Advance(time.Hour)
	got, ok := get(t, s, acme, "k")
	assert.True(t, ok)
	assert.Equal(t, `2`, got)
}

func testList(t *testing.T, s kv.Store, _ *Clock) {
	for _, k := range []string{"b", "a:2", "a:1", "a:10", "c"} {
		set(t, s, acme, k, `0`)
	}
	assert.Equal(t, []string{"a:1", "a:10", "a:2", "b", "c"}, list(t, s, acme, "", 0))
	assert.Equal(t, []string{"a:1", "a:10", "a:2"}, list(t, s, acme, "a:", 0))
	assert.Equal(t, []string{"a:1", "a:10"}, list(t, s, acme, "a:", 2))
	assert.Equal(t, []string{"a:1"}, list(t, s, acme, "", 1))
	assert.Empty(t, list(t, s, acme, "z", 0))
}

func testTenantIsolation(t *testing.T, s kv.Store, _ *Clock) {
	set(t, s, acme, "k", `"acme"`)
	set(t, s, globex, "k", `"globex"`)
	a, _ := get(t, s, acme, "k")
	g, _ := get(t, s, globex, "k")
	assert.Equal(t, `"acme"`, a)
	assert.Equal(t, `"globex"`, g)
	deleted, err := s.Delete(context.Background(), globex, "k")
	require.NoError(t, err)
	assert.True(t, deleted)
	a, ok := get(t, s, acme, "k")
	assert.True(t, ok, "globex's delete left acme's key")
	assert.Equal(t, `"acme"`, a)
	assert.Equal(t, []string{"k"}, list(t, s, acme, "", 0))
	assert.Empty(t, list(t, s, globex, "", 0))
	assert.Equal(t, 0, count(t, s, "globex"))
}

func testNamespaceIsolation(t *testing.T, s kv.Store, _ *Clock) {
	set(t, s, acme, "k", `1`)
	_, ok := get(t, s, acmeCfg, "k")
	assert.False(t, ok)
	assert.Empty(t, list(t, s, acmeCfg, "", 0))
	set(t, s, acmeCfg, "k", `2`)
	v, _ := get(t, s, acme, "k")
	assert.Equal(t, `1`, v)
	assert.Equal(t, 2, count(t, s, "acme"), "the tenant's count spans its namespaces")
}

func testLookalikeNamespace(t *testing.T, s kv.Store, _ *Clock) {
	set(t, s, globex, "secret", `"globex"`)
	for _, ns := range []string{"globex", "globex:default", "globex/default", "{globex}", "{globex}:s:default", "..:globex"} {
		sp := kv.Space{Tenant: "acme", Namespace: ns}
		_, ok := get(t, s, sp, "secret")
		assert.False(t, ok, "namespace %q reached globex", ns)
		assert.Empty(t, list(t, s, sp, "", 0), "namespace %q listed globex", ns)
		set(t, s, sp, "secret", `"acme"`)
		deleted, err := s.Delete(context.Background(), sp, "secret")
		require.NoError(t, err)
		assert.True(t, deleted)
	}
	v, ok := get(t, s, globex, "secret")
	assert.True(t, ok)
	assert.Equal(t, `"globex"`, v)
}

func testSeparators(t *testing.T, s kv.Store, _ *Clock) {
	spaces := []kv.Space{
		{Tenant: "a:b", Namespace: "c"}, {Tenant: "a", Namespace: "b:c"},
		{Tenant: "a}", Namespace: "c"}, {Tenant: "a", Namespace: "}c"},
		{Tenant: "a%3Ab", Namespace: "c"}, {Tenant: "a", Namespace: "s:c"},
		{Tenant: "a", Namespace: "c"}, {Tenant: "a:s", Namespace: "c"},
	}
	for i, sp := range spaces {
		set(t, s, sp, "k", fmt.Sprint(i))
	}
	for i, sp := range spaces {
		v, ok := get(t, s, sp, "k")
		assert.True(t, ok, "%+v", sp)
		assert.Equal(t, fmt.Sprint(i), v, "%+v holds another space's value", sp)
		assert.Equal(t, []string{"k"}, list(t, s, sp, "", 0), "%+v", sp)
	}
}

func testKeyLimit(t *testing.T, s kv.Store, _ *Clock) {
	for i := range Limits.MaxKeys {
		sp := acme
		if i%2 == 1 {
			sp = acmeCfg
		}
		set(t, s, sp, fmt.Sprint("k", i), `0`)
	}
	_, err := s.Set(context.Background(), acmeCfg, "one-more", []byte(`0`), 0)
	require.ErrorIs(t, err, kv.ErrKeyLimit)
	_, ok := get(t, s, acmeCfg, "one-more")
	assert.False(t, ok, "a refused key is not stored")
	_, err = s.Set(context.Background(), acme, "k0", []byte(`1`), 0)
	require.NoError(t, err, "an overwrite adds no key")
	set(t, s, globex, "k", `0`) // another tenant has its own limit
	_, err = s.Delete(context.Background(), acme, "k0")
	require.NoError(t, err)
	set(t, s, acmeCfg, "one-more", `0`)
	assert.Equal(t, Limits.MaxKeys, count(t, s, "acme"))
}

func testKeyLimitExpired(t *testing.T, s kv.Store, clock *Clock) {
	for i := range Limits.MaxKeys {
		sp := acme
		if i == 0 {
			sp = acmeCfg
		}
		_, err := s.Set(context.Background(), sp, fmt.Sprint("k", i), []byte(`0`), time.Minute)
		require.NoError(t, err)
	}
	_, err := s.Set(context.Background(), acme, "late", []byte(`0`), 0)
	require.ErrorIs(t, err, kv.ErrKeyLimit)
	clock.Advance(time.Minute)
	set(t, s, acme, "late", `0`)
	assert.Equal(t, 1, count(t, s, "acme"))
}

func testValueLimit(t *testing.T, s kv.Store, _ *Clock) {
	full := make([]byte, Limits.MaxValueBytes)
	for i := range full {
		full[i] = 'x'
	}
	_, err := s.Set(context.Background(), acme, "full", full, 0)
	require.NoError(t, err)
	_, err = s.Set(context.Background(), acme, "over", append(full, 'x'), 0)
	require.ErrorIs(t, err, kv.ErrValueTooLarge)
	_, ok := get(t, s, acme, "over")
	assert.False(t, ok)
}

func testConcurrentLimit(t *testing.T, s kv.Store, _ *Clock) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range 4 * Limits.MaxKeys {
		wg.Go(func() {
			_, err := s.Set(context.Background(), acme, fmt.Sprint("k", i), []byte(`0`), 0)
			if err == nil {
				mu.Lock()
				stored++
				mu.Unlock()
				return
			}
			assert.ErrorIs(t, err, kv.ErrKeyLimit)
		})
	}
	wg.Wait()
	assert.Equal(t, Limits.MaxKeys, stored)
	assert.Equal(t, Limits.MaxKeys, count(t, s, "acme"))
	assert.Len(t, list(t, s, acme, "", 0), Limits.MaxKeys)
}

func testClose(t *testing.T, s kv.Store, _ *Clock) {
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	ctx := context.Background()
	_, err := s.Set(ctx, acme, "k", []byte(`1`), 0)
	assert.ErrorIs(t, err, kv.ErrClosed)
	_, _, err = s.Get(ctx, acme, "k")
	assert.ErrorIs(t, err, kv.ErrClosed)
	_, err = s.Delete(ctx, acme, "k")
	assert.ErrorIs(t, err, kv.ErrClosed)
	_, err = s.List(ctx, acme, "", 0)
	assert.ErrorIs(t, err, kv.ErrClosed)
	_, err = s.Count(ctx, "acme")
	assert.ErrorIs(t, err, kv.ErrClosed)
}
