package unit

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// listed returns list_channels' entries as "room:channel" → members.
func listed(t *testing.T, c *client.Client, args any) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, e := range testutil.Command(t, c, "list_channels", args)["channels"].([]any) {
		m := e.(map[string]any)
		out[m["room"].(string)+":"+m["channel"].(string)] = m["members"].(float64)
	}
	return out
}

func TestListChannelsWithARoomListsOnlyThatRoom(t *testing.T) {
	s := testutil.StartServer(t)
	a, b := testutil.Dial(t, s), testutil.Dial(t, s)
	testutil.Join(t, a, "science", "explore")
	testutil.Join(t, a, "science", "lab")
	testutil.Join(t, b, "science", "lab")
	testutil.Join(t, b, "ops", "alerts")

	assert.Equal(t, map[string]float64{"science:explore": 1, "science:lab": 2}, listed(t, a, map[string]string{"room": "science"}))
	assert.Equal(t, map[string]float64{"ops:alerts": 1}, listed(t, a, map[string]string{"room": "ops"}))
	assert.Equal(t, map[string]float64{}, listed(t, a, map[string]string{"room": "nobody-here"}))
	assert.Equal(t, map[string]float64{"science:explore": 1, "science:lab": 2, "ops:alerts": 1}, listed(t, a, nil))
}
