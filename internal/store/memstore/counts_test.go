package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

func TestStreamsAndMessagesCountWhatTheRingsHold(t *testing.T) {
	s := memstore.New(2)
	ctx := context.Background()
	appendTo := func(key store.Key, id string) {
		t.Helper()
		env := &protocol.Envelope{ID: id, Type: protocol.TypeMessage, Timestamp: time.Now()}
		require.NoError(t, s.Append(ctx, key, env))
	}
	a, b := store.Key{Tenant: "t", Room: "r", Channel: "a"}, store.Key{Tenant: "t", Room: "r", Channel: "b"}
	assert.Equal(t, [2]int64{0, 0}, [2]int64{s.Streams(), s.Messages()}, "empty")

	appendTo(a, "m1")
	appendTo(a, "m2")
	assert.Equal(t, [2]int64{1, 2}, [2]int64{s.Streams(), s.Messages()}, "one key, two messages")

	appendTo(a, "m3")
	assert.Equal(t, [2]int64{1, 2}, [2]int64{s.Streams(), s.Messages()}, "a full ring evicts: the count stays")

	appendTo(b, "m4")
	assert.Equal(t, [2]int64{2, 3}, [2]int64{s.Streams(), s.Messages()}, "a second key")

	_, err := s.History(ctx, store.Key{Tenant: "t", Room: "r", Channel: "never"}, store.Query{Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, int64(2), s.Streams(), "reading a key that holds nothing creates no stream")

	require.NoError(t, s.Close())
	assert.Equal(t, [2]int64{0, 0}, [2]int64{s.Streams(), s.Messages()}, "a closed store holds nothing")
}
