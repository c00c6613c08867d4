package command_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/bus"
)

// TestHelpListsAnEmptyArgumentListAsAnArray: clients iterate over args, so a
// command without arguments has "args": [], never null.
func TestHelpListsAnEmptyArgumentListAsAnArray(t *testing.T) {
	reg := registry(bus.NewHub(8), nil)
	r := run(t, reg, alice, "help", `{"command":"ping"}`)
	require.Empty(t, r.Code)
	cmds := r.Data["commands"].([]any)
	require.Len(t, cmds, 1)
	assert.Equal(t, []any{}, cmds[0].(map[string]any)["args"])
}
