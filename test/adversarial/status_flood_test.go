package adversarial

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// One tenant filling the node with pairs must not make another tenant's
// status or list_channels reach into them: the status command counts the
// caller's tenant only (GET /status keeps the node totals), list_channels
// answers one bounded page of the caller's tenant (default 100, at most
// 500, more and next to go on), and neither walks the big tenant's pairs
// for a small tenant's request. A flood of both commands from the small
// tenant leaves the big tenant served.
func TestStatusAndListChannelsStayInTheCallersTenantAndAnswerBoundedPages(t *testing.T) {
	const clients, perClient = 6, 128
	s := start(t, unlimited, func(c *config.Config) {
		c.EnableAuth, c.AuthJWTSecret, c.AuthJWTAlgorithms = true, tokenSecret, []string{"HS256"}
		c.MaxSubscriptions = perClient
	})
	dial := func(subject, tenant, role string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, tokenSecret, testutil.Claims(subject, tenant, role))})
	}
	big := make([]*client.Client, clients)
	for i := range big {
		big[i] = dial(fmt.Sprint("big-", i), "big", "user")
		for j := range perClient {
			testutil.Join(t, big[i], fmt.Sprintf("room-%d", i), fmt.Sprintf("ch-%03d", j))
		}
	}
	const pairs = clients * perClient
	guest, small := dial("guest", "small", "guest"), dial("small", "small", "user")

	// The node's own view counts everything.
	code, body := s.Get(t, "/status")
	require.Equal(t, http.StatusOK, code)
	var node struct{ Connections, Rooms, Channels int }
	require.NoError(t, json.Unmarshal([]byte(body), &node), body)
	assert.Equal(t, [3]int{clients + 2, clients, pairs}, [3]int{node.Connections, node.Rooms, node.Channels},
		"GET /status keeps the node totals: %s", body)

	// A guest of the small tenant sees its own tenant, not the big one.
	st := testutil.Command(t, guest, "status", nil)
	assert.Equal(t, []any{2.0, 0.0, 0.0}, []any{st["connections"], st["rooms"], st["channels"]},
		"the small tenant's guest sees its tenant's 2 connections and nothing of the big tenant's %d pairs", pairs)
	st = testutil.Command(t, big[0], "status", nil)
	assert.Equal(t, []any{float64(clients), float64(clients), float64(pairs)}, []any{st["connections"], st["rooms"], st["channels"]},
		"control: the big tenant sees its own counts")

	listed := testutil.Command(t, small, "list_channels", nil)
	assert.Equal(t, map[string]any{"channels": []any{}, "more": false}, listed, "the small tenant lists nothing of the big one")

	// The big tenant's own list comes in bounded pages that walk every pair once.
	first := testutil.Command(t, big[0], "list_channels", nil)
	assert.Equal(t, 100, len(first["channels"].([]any)), "the default page")
	assert.Equal(t, true, first["more"])
	refused, err := big[0].Command(testutil.Ctx(t), "list_channels", map[string]any{"limit": 501})
	assert.Error(t, err, "a limit over the maximum is refused: %s", refused)
	seen := map[string]int{}
	args := map[string]any{"limit": 500}
	for pages := 1; ; pages++ {
		require.LessOrEqual(t, pages, 2, "768 pairs take two pages of 500")
		page := testutil.Command(t, big[0], "list_channels", args)
		list := page["channels"].([]any)
		assert.LessOrEqual(t, len(list), 500, "a page holds at most the maximum")
		for _, e := range list {
			e := e.(map[string]any)
			seen[fmt.Sprint(e["room"], "/", e["channel"])]++
		}
		if page["more"] != true {
			break
		}
		args["after"] = page["next"]
	}
	assert.Len(t, seen, pairs, "every pair of the big tenant is listed")
	for k, n := range seen {
		assert.Equal(t, 1, n, "%s is listed once", k)
	}

	// The small tenant floods both commands; the big tenant keeps being served.
	for i := range 300 {
		st := testutil.Command(t, guest, "status", nil)
		require.Equal(t, 0.0, st["channels"], "status %d", i)
		require.Empty(t, testutil.Command(t, small, "list_channels", nil)["channels"], "list_channels %d", i)
	}
	reader := dial("big-reader", "big", "user")
	testutil.Join(t, reader, "room-0", "ch-000")
	ack := testutil.Publish(t, big[1], "room-0", "ch-000", map[string]int{"n": 1})
	assert.Equal(t, 2, ack.Delivered, "the big tenant's message reaches both members after the flood")
	got := testutil.Expect(t, reader)
	assert.JSONEq(t, `{"n":1}`, string(got.Payload))
}
