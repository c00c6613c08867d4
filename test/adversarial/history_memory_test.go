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

// historyStatus reads the memory store's figures from GET /status.
func historyStatus(t *testing.T, s *testutil.Server) (rooms, bytes int64) {
	t.Helper()
	code, body := s.Get(t, "/status")
	require.Equal(t, http.StatusOK, code, body)
	var st struct {
		HistoryRooms int64 `json:"history_rooms"`
		HistoryBytes int64 `json:"history_bytes"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	return st.HistoryRooms, st.HistoryBytes
}

// One user publishing large messages to many rooms it never joined must
// not grow the node's memory without bound, nor push another tenant's
// history out: the memory store holds at most ARQONBUS_HISTORY_MAX_BYTES,
// and the flooding tenant only its ARQONBUS_HISTORY_TENANT_MAX_BYTES share,
// losing its own oldest messages first.
func TestAHistoryFloodStaysWithinTheBudgetAndOtherTenantsKeepTheirHistory(t *testing.T) {
	const (
		nodeBudget  = 4 << 20
		tenantShare = 1 << 20
		rooms       = 500
		payload     = 64 << 10
	)
	s := start(t, unlimited, func(c *config.Config) {
		c.EnableAuth, c.AuthJWTSecret, c.AuthJWTAlgorithms = true, tokenSecret, []string{"HS256"}
		c.HistoryMaxBytes, c.HistoryTenantMaxBytes = nodeBudget, tenantShare
	})
	dial := func(subject, tenant string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: testutil.Token(t, tokenSecret, testutil.Claims(subject, tenant, "user"))})
	}
	quiet, flood := dial("reader", "quiet"), dial("flooder", "flood")
	for i := range 10 {
		testutil.Publish(t, quiet, "news", "main", map[string]int{"n": i})
	}
	_, quietBytes := historyStatus(t, s)
	require.Positive(t, quietBytes, "the quiet tenant's history is counted")

	before := liveHeap()
	big := pad(payload)
	for i := range rooms {
		testutil.Publish(t, flood, fmt.Sprintf("room-%d", i), "main", map[string]string{"p": big})
	}
	after := liveHeap()
	grown := int64(after) - int64(before)
	t.Logf("%d messages of %d KiB to %d rooms: live heap %d KiB -> %d KiB (%+d KiB); without a budget they would pin %d KiB",
		rooms, payload>>10, rooms, before>>10, after>>10, grown>>10, rooms*payload>>10)

	heldRooms, heldBytes := historyStatus(t, s)
	assert.LessOrEqual(t, heldBytes, int64(nodeBudget), "history_bytes stays within the node budget")
	assert.LessOrEqual(t, heldBytes, int64(tenantShare)+quietBytes, "the flooder holds no more than its share")
	assert.LessOrEqual(t, heldRooms, int64(tenantShare/payload+1), "rooms emptied by the budget are freed")
	assert.Positive(t, s.Counter(t, "history_evicted_total", "tenant_share"), "the flooder paid with its own history")
	assert.Zero(t, s.Counter(t, "history_evicted_total", "node_budget"), "the share stopped it before the node budget")
	assert.Less(t, grown, int64(3*tenantShare), "the live heap is bounded by the share, not by what was sent")

	got := testutil.Command(t, quiet, "history", map[string]any{"room": "news", "channel": "main", "limit": 50})
	assert.Len(t, got["messages"], 10, "the other tenant's history is all there: %v", got)
	newest := testutil.Command(t, flood, "history", map[string]any{"room": fmt.Sprintf("room-%d", rooms-1), "channel": "main"})
	assert.Len(t, newest["messages"], 1, "the flooder's newest message is kept: the store was live to the end")
	oldest := testutil.Command(t, flood, "history", map[string]any{"room": "room-0", "channel": "main"})
	assert.Empty(t, oldest["messages"], "the flooder's oldest message went")

	mine := testutil.Command(t, quiet, "status", nil)
	assert.Equal(t, []any{1.0, float64(quietBytes)}, []any{mine["history_rooms"], mine["history_bytes"]},
		"the status command shows the caller's tenant's part, not the flooder's")
}
