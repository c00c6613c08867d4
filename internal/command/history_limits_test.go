package command_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

// TestHistoryLimitsAreInclusive pins both ends of args.limit (1-500, docs/protocol.md):
// 1 and 500 are answered, 0 and 501 are refused.
func TestHistoryLimitsAreInclusive(t *testing.T) {
	st, _ := storeWithHistory(t, 1000, func(int) []byte { return []byte(`{}`) })
	reg := registry(bus.NewHub(8), st)
	history := func(limit int) reply {
		return run(t, reg, alice, "history", fmt.Sprintf(`{"room":"science","channel":"explore","limit":%d}`, limit))
	}

	t.Run("limit 1 answers the newest message alone", func(t *testing.T) {
		r := history(1)
		require.Empty(t, r.Code, "problems: %q", r.Problems)
		msgs := r.Data["messages"].([]any)
		require.Len(t, msgs, 1)
		assert.Equal(t, "m2", msgs[0].(map[string]any)["id"])
	})
	t.Run("limit 500 is accepted", func(t *testing.T) {
		r := history(500)
		require.Empty(t, r.Code, "problems: %q", r.Problems)
		assert.Len(t, r.Data["messages"], 3)
	})
	for _, limit := range []int{0, 501} {
		t.Run(fmt.Sprintf("limit %d is refused", limit), func(t *testing.T) {
			r := history(limit)
			assert.Equal(t, string(protocol.CodeValidation), r.Code)
			assert.Equal(t, []string{"args.limit must be 1-500"}, r.Problems)
		})
	}
}

// storeWithHistory returns a memory store of the given capacity holding three
// messages m0, m1, m2 in acme's science:explore, one second apart and oldest
// first, with payload(i) as the payload of message i; it also returns them.
func storeWithHistory(t testing.TB, capacity int, payload func(i int) []byte) (*memstore.Store, []*protocol.Envelope) {
	t.Helper()
	st := memstore.New(capacity)
	t.Cleanup(func() { _ = st.Close() })
	key := store.Key{Tenant: "acme", Room: "science", Channel: "explore"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	envs := make([]*protocol.Envelope, 3)
	for i := range envs {
		envs[i] = &protocol.Envelope{
			ID: fmt.Sprintf("m%d", i), Type: protocol.TypeMessage, Timestamp: base.Add(time.Duration(i) * time.Second),
			Room: key.Room, Channel: key.Channel, Payload: payload(i),
		}
		require.NoError(t, st.Append(context.Background(), key, envs[i]))
	}
	return st, envs
}
