package command_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// TestAHistoryAnswerFitsTheReplyBudgetNewestFirst: with MaxReplyBytes set, a
// history answer keeps the newest messages whose frames fit in it (a page
// that fits exactly is not cut), always at least the newest one, and says
// truncated when it left older ones out; without a budget it keeps all.
func TestAHistoryAnswerFitsTheReplyBudgetNewestFirst(t *testing.T) {
	st, envs := storeWithHistory(t, 100, func(i int) []byte {
		return []byte(fmt.Sprintf(`{"text":"%*s"}`, 10*(i+1), "x"))
	})
	size := map[string]int{}
	for _, env := range envs {
		size[env.ID] = len(protocol.Encode(env))
	}

	for _, c := range []struct {
		name      string
		budget    int
		want      []any
		truncated bool
	}{
		{"no budget keeps every message", 0, []any{"m0", "m1", "m2"}, false},
		{"a budget every message fits in exactly", size["m0"] + size["m1"] + size["m2"], []any{"m0", "m1", "m2"}, false},
		{"a budget the newest two fit in exactly", size["m1"] + size["m2"], []any{"m1", "m2"}, true},
		{"a budget one byte short of the newest two", size["m1"] + size["m2"] - 1, []any{"m2"}, true},
		{"a budget smaller than the newest still answers it", size["m2"] - 1, []any{"m2"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := command.New(command.Deps{
				Hub: bus.NewHub(8), Store: st, MaxReplyBytes: c.budget,
				Status: func() command.Status { return command.Status{} },
			})
			r := run(t, reg, alice, "history", `{"room":"science","channel":"explore"}`)
			require.Empty(t, r.Code, "problems: %q", r.Problems)
			var ids []any
			for _, m := range r.Data["messages"].([]any) {
				ids = append(ids, m.(map[string]any)["id"])
			}
			assert.Equal(t, c.want, ids)
			assert.Equal(t, c.truncated, r.Data["truncated"])
		})
	}
}
