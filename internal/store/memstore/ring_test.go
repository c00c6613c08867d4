package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

var key = store.Key{Tenant: "acme", Room: "lobby", Channel: "main"}

func appendN(t *testing.T, s *memstore.Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, s.Append(context.Background(), key, storetest.Msg(key, i)))
	}
}

func history(t *testing.T, s *memstore.Store, q store.Query) store.Page {
	t.Helper()
	p, err := s.History(context.Background(), key, q)
	require.NoError(t, err)
	return p
}

func TestRingKeepsTheNewestMaxPerKey(t *testing.T) {
	s := memstore.New(5)
	appendN(t, s, 0, 12)
	n, err := s.Count(context.Background(), key)
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)
	p := history(t, s, store.Query{Limit: 50})
	assert.Equal(t, []string{"m00007", "m00008", "m00009", "m00010", "m00011"}, storetest.IDs(p.Messages))
	assert.True(t, p.Complete, "retention is not a gap")
}

func TestEvictedBoundsAreIncomplete(t *testing.T) {
	s := memstore.New(5)
	appendN(t, s, 0, 12)
	p := history(t, s, store.Query{Limit: 2, SinceID: "m00003"})
	assert.Equal(t, []string{"m00010", "m00011"}, storetest.IDs(p.Messages))
	assert.False(t, p.Complete, "an evicted since id leaves a gap")
	p = history(t, s, store.Query{Limit: 50, SinceID: "m00008"})
	assert.Equal(t, []string{"m00009", "m00010", "m00011"}, storetest.IDs(p.Messages))
	assert.True(t, p.Complete)
	p = history(t, s, store.Query{Limit: 50, BeforeID: "m00003"})
	assert.Empty(t, p.Messages)
	assert.False(t, p.Complete, "an evicted before id is unknown")
}

func TestSinceTimeFindsLateMessages(t *testing.T) {
	// A client whose clock runs behind stores a message older than the one
	// before it; a since-time query must still find everything newer.
	s := memstore.New(100)
	ts := []time.Duration{0, 10, 20, 5, 30, 1}
	for i, d := range ts {
		m := storetest.Msg(key, i)
		m.Timestamp = storetest.Base.Add(d * time.Second)
		require.NoError(t, s.Append(context.Background(), key, m))
	}
	p := history(t, s, store.Query{Limit: 50, SinceTime: storetest.Base.Add(4 * time.Second)})
	assert.Equal(t, []string{"m00001", "m00002", "m00003", "m00004"}, storetest.IDs(p.Messages))
	p = history(t, s, store.Query{Limit: 50, BeforeTime: storetest.Base.Add(6 * time.Second)})
	assert.Equal(t, []string{"m00000", "m00003", "m00005"}, storetest.IDs(p.Messages))
}

func TestNonPositiveSizeUsesTheDefault(t *testing.T) {
	s := memstore.New(0)
	appendN(t, s, 0, memstore.DefaultMaxPerKey+3)
	n, err := s.Count(context.Background(), key)
	require.NoError(t, err)
	assert.Equal(t, int64(memstore.DefaultMaxPerKey), n)
}

func TestCanceledContextIsRefused(t *testing.T) {
	s := memstore.New(5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.Append(ctx, key, storetest.Msg(key, 0)), context.Canceled)
	_, err := s.History(ctx, key, store.Query{})
	assert.ErrorIs(t, err, context.Canceled)
}
