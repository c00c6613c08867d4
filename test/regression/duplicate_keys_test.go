package regression

import (
	"encoding/json"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The decoder resolved a top-level field given twice last-wins, so
// {"type":"message","type":"command",…} ran the command while anything that
// reads the first value (a proxy, a filter, an audit log) saw a message. Now
// any known field given twice is a VALIDATION_ERROR naming it, and nothing
// runs (SPEC §1).
func TestRegression_DuplicateTypeKeysDoNotRunACommand(t *testing.T) {
	s := testutil.StartServer(t)
	c := testutil.Dial(t, s)
	frame := `{"id":"dup-1","type":"message","room":"r","channel":"c","payload":{},"type":"command","command":"join_channel","args":{"room":"hidden","channel":"c"}}`
	require.NoError(t, c.SendRaw(websocket.TextMessage, []byte(frame)))

	got, err := c.RecvTimeout(testutil.Timeout)
	require.NoError(t, err)
	assert.Equal(t, protocol.TypeError, got.Type, "reply %s", protocol.Encode(got))
	assert.Equal(t, string(protocol.CodeValidation), got.ErrorCode)
	assert.Equal(t, "dup-1", got.RequestID)
	var details struct {
		Errors []string `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(got.Payload, &details), "payload %s", got.Payload)
	assert.Equal(t, []string{`duplicate field "type"`}, details.Errors)

	// The connection is alive, and the smuggled join_channel never ran.
	who := testutil.Command(t, c, "whoami", nil)
	assert.Empty(t, who["subscriptions"], "join_channel ran")
}
