package regression

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The memory store bounded each (tenant, room, channel) by message count
// only and never freed a ring: one client publishing 256 KiB messages to
// 3,000 rooms it never joined took the node from 12 MB to 1.27 GB in 25
// seconds, and it stayed there, while /status showed rooms:0 (rooms count
// members, and nobody had joined). History is now bounded in bytes
// (ARQONBUS_HISTORY_MAX_BYTES, with a per-tenant share), a room idle for
// ARQONBUS_HISTORY_TTL is dropped, and /status shows history_rooms and
// history_bytes.
func TestRegression_HistoryOfRoomsNobodyJoinedIsBoundedAndFreedWhenIdle(t *testing.T) {
	const share, payload, rooms = 1 << 20, 128 << 10, 40
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) {
		c.RateLimitPerSecond, c.RateLimitBurst = 0, 0
		c.HistoryMaxBytes, c.HistoryTenantMaxBytes = 2*share, share
		c.HistoryTTL = time.Second
	}))
	status := func() (rooms, bytes int64) {
		code, body := s.Get(t, "/status")
		require.Equal(t, http.StatusOK, code, body)
		var st struct {
			Rooms        int   `json:"rooms"`
			HistoryRooms int64 `json:"history_rooms"`
			HistoryBytes int64 `json:"history_bytes"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &st), body)
		require.Zero(t, st.Rooms, "nobody joined a room")
		return st.HistoryRooms, st.HistoryBytes
	}

	c := testutil.Dial(t, s)
	big := strings.Repeat("x", payload)
	for i := range rooms { // 5 MiB sent, five times the share
		testutil.Publish(t, c, fmt.Sprintf("room-%d", i), "main", map[string]string{"p": big})
	}
	held, bytes := status()
	assert.LessOrEqual(t, bytes, int64(share), "history is bounded by the tenant's share, not by what was sent")
	assert.Greater(t, bytes, int64(share-2*payload), "the share is used, so the bound was reached")
	// Each message is a little over 128 KiB stored: seven fit in the share.
	assert.Equal(t, int64(share/payload-1), held, "rooms whose messages were evicted are freed")

	testutil.Eventually(t, func() bool { held, bytes = status(); return held == 0 && bytes == 0 },
		10*time.Second, "idle rooms dropped after ARQONBUS_HISTORY_TTL")

	testutil.Publish(t, c, "room-again", "main", map[string]string{"p": "small"})
	held, bytes = status()
	assert.Equal(t, int64(1), held, "the store still takes history after the sweep")
	assert.Positive(t, bytes)
}
