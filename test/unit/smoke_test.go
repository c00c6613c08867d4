package unit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestTwoClientsInOneChannelExchangeAMessage(t *testing.T) {
	s := testutil.StartServer(t)
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, a, "science", "explore")
	testutil.Join(t, b, "science", "explore")

	ack := testutil.Publish(t, a, "science", "explore", map[string]any{"text": "hello"})
	assert.Equal(t, 1, ack.Delivered)

	got := testutil.Expect(t, b)
	require.Equal(t, "message", got.Type)
	assert.Equal(t, a.ID(), got.Sender)
	assert.JSONEq(t, `{"text":"hello"}`, string(got.Payload))
	testutil.ExpectNone(t, a, 100e6)
}
