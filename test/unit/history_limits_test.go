package unit

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// TestHistoryLimitsAreInclusive: args.limit takes 1 to 500 (docs/protocol.md), both
// ends included.
func TestHistoryLimitsAreInclusive(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	testutil.Join(t, c, "science", "explore")
	for i := range 3 {
		testutil.Publish(t, c, "science", "explore", map[string]int{"n": i})
	}
	history := func(limit int) map[string]any {
		return testutil.Command(t, c, "history", map[string]any{"room": "science", "channel": "explore", "limit": limit})
	}

	one := history(1)["messages"].([]any)
	require.Len(t, one, 1, "limit 1 answers one message")
	assert.JSONEq(t, `{"n":2}`, string(protocol.Object(one[0].(map[string]any)["payload"])), "the newest")
	assert.Len(t, history(500)["messages"], 3, "limit 500 is accepted")

	for _, limit := range []int{0, 501} {
		_, err := c.Command(testutil.Ctx(t), "history", map[string]any{"room": "science", "channel": "explore", "limit": limit})
		var we *protocol.Error
		require.True(t, errors.As(err, &we), "limit %d: %v", limit, err)
		assert.Equal(t, protocol.CodeValidation, we.Code, "limit %d", limit)
	}
}
