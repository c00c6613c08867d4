//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

func TestADamagedStoredEntryIsServedLoggedAndCountedNotDropped(t *testing.T) {
	t.Parallel()
	srv := redistest.Redis(t)
	s := testutil.StartServer(t, testutil.WithRedis(srv.URL(), config.ModeStrict))
	c := testutil.Dial(t, s)
	room := uniq("damaged")
	_, err := publish(testutil.Ctx(t), c, room, "main", "good-1", 1)
	require.NoError(t, err)

	rc := redistest.RedisClient(t, srv)
	var stream string
	for _, k := range scanKeys(t, rc, "arqonbus:*"+globEscape(room)+"*") {
		if strings.HasSuffix(k, ":stream") {
			stream = k
		}
	}
	require.NotEmpty(t, stream)
	// An entry as an older or broken writer might leave it: a timestamp that
	// is not a number and a payload that is not a JSON object.
	entry, err := rc.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{
		"id", "damaged-1", "type", "message", "ts", "yesterday", "payload", "{not json",
		"room", room, "channel", "main",
	}}).Result()
	require.NoError(t, err)
	_, err = publish(testutil.Ctx(t), c, room, "main", "good-2", 2)
	require.NoError(t, err)

	ids, complete := historyPage(t, c, room, "main", 50)
	assert.Equal(t, []string{"good-1", "damaged-1", "good-2"}, ids, "the damaged entry is kept in its place")
	assert.True(t, complete)
	assert.Equal(t, 1.0, s.Counter(t, "storage_decode_failures_total"), "counted once per entry")
	var lines []string
	for line := range strings.SplitSeq(s.Logs.String(), "\n") {
		if strings.Contains(line, "cannot be decoded") {
			lines = append(lines, line)
		}
	}
	require.Len(t, lines, 2, "one DEBUG line per damaged field")
	for _, line := range lines {
		assert.Contains(t, line, "level=DEBUG")
		assert.Contains(t, line, "stream="+stream)
		assert.Contains(t, line, "entry="+entry)
	}
	assert.Contains(t, strings.Join(lines, "\n"), "field=ts")
	assert.Contains(t, strings.Join(lines, "\n"), "field=payload")
}
