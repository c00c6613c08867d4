package regression

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The status command answered the node's totals, so a guest of one tenant
// read how many connections, rooms and channels every other tenant had; and
// it, GET /status and list_channels walked every pair of every tenant, so a
// tenant holding many pairs made a small tenant's requests slow and a flood
// of them took a core from everyone. Now the hub keeps counts per tenant as
// clients come and go and pairs appear and vanish: the status command shows
// the caller's tenant only, GET /status the node's totals, both in constant
// time; and list_channels answers one bounded page of the caller's tenant
// (limit 1-500, default 100) with more and next to go on.
func TestRegression_StatusAndListChannelsShowOnlyTheCallersTenant(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret))
	dial := func(subject, tenant, role string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, testutil.Claims(subject, tenant, role))})
	}
	acme := dial("u-acme", "acme", "user")
	for i := range 120 {
		testutil.Join(t, acme, "ops", fmt.Sprintf("ch-%03d", i))
	}
	globexGuest, globex := dial("g-globex", "globex", "guest"), dial("u-globex", "globex", "user")
	testutil.Join(t, globex, "hr", "pay")

	st := testutil.Command(t, globexGuest, "status", nil)
	assert.Equal(t, []any{2.0, 1.0, 1.0}, []any{st["connections"], st["rooms"], st["channels"]},
		"globex's guest sees globex's 2 connections, 1 room and 1 channel, not acme's 120")
	st = testutil.Command(t, acme, "status", nil)
	assert.Equal(t, []any{1.0, 1.0, 120.0}, []any{st["connections"], st["rooms"], st["channels"]}, "acme sees its own")

	code, body := s.Get(t, "/status")
	require.Equal(t, http.StatusOK, code)
	var node struct{ Connections, Rooms, Channels int }
	require.NoError(t, json.Unmarshal([]byte(body), &node), body)
	assert.Equal(t, [3]int{3, 2, 121}, [3]int{node.Connections, node.Rooms, node.Channels}, "GET /status keeps the node totals")

	assert.Equal(t, []any{map[string]any{"room": "hr", "channel": "pay", "members": 1.0}},
		testutil.Command(t, globex, "list_channels", nil)["channels"], "globex lists its own pair only")
	first := testutil.Command(t, acme, "list_channels", nil)
	require.Equal(t, 100, len(first["channels"].([]any)), "a page of the default 100")
	require.Equal(t, true, first["more"])
	rest := testutil.Command(t, acme, "list_channels", map[string]any{"after": first["next"]})
	list := rest["channels"].([]any)
	require.Equal(t, 20, len(list), "the rest")
	assert.Equal(t, "ch-100", list[0].(map[string]any)["channel"], "the next page starts after the last one")
	assert.Equal(t, false, rest["more"])
	assert.NotContains(t, rest, "next")
}
