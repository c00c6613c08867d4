package redisstore

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

// replyMeter counts the entry bytes Redis sent back for XREVRANGE: what a
// history read made Redis serialise.
type replyMeter struct {
	bytes, calls atomic.Int64
}

func (m *replyMeter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (m *replyMeter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (m *replyMeter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if x, ok := cmd.(*redis.XMessageSliceCmd); ok && cmd.Name() == "xrevrange" {
			m.calls.Add(1)
			for _, e := range x.Val() {
				for k, v := range e.Values {
					s, _ := v.(string)
					m.bytes.Add(int64(len(k) + len(s)))
				}
			}
		}
		return err
	}
}

func TestHistoryUnderAByteBudgetReadsLittleMoreThanTheBudgetFromRedis(t *testing.T) {
	mr := sharedRedis(t)
	c := client(t, mr)
	meter := &replyMeter{}
	c.AddHook(meter)
	s := newStore(t, mr, Options{Client: c})
	const msgSize, n = 100 << 10, 200
	for i := range n {
		m := storetest.Msg(key, i)
		m.Payload = json.RawMessage(`{"p":"` + strings.Repeat("x", msgSize) + `"}`)
		require.NoError(t, s.Append(context.Background(), key, m))
	}

	meter.bytes.Store(0)
	p, err := s.History(context.Background(), key, store.Query{Limit: store.MaxHistoryLimit, MaxBytes: 1 << 20})
	require.NoError(t, err)
	assert.True(t, p.Truncated)
	assert.Len(t, p.Messages, 10, "ten 100 KiB messages fit in 1 MiB")
	assert.Equal(t, "m00199", p.Messages[len(p.Messages)-1].ID, "the newest message ends the page")
	read := meter.bytes.Load()
	assert.Less(t, read, int64(2<<20), "Redis sent %d bytes for a 1 MiB page", read)

	// Without a budget the same read brings every message: the meter is live.
	meter.bytes.Store(0)
	p, err = s.History(context.Background(), key, store.Query{Limit: store.MaxHistoryLimit})
	require.NoError(t, err)
	assert.Len(t, p.Messages, n)
	assert.False(t, p.Truncated)
	assert.Greater(t, meter.bytes.Load(), int64(n*msgSize))
}

func TestHistoryUnderAByteBudgetPagesBackToTheOldestMessage(t *testing.T) {
	s := newStore(t, sharedRedis(t), Options{})
	const n = 57
	for i := range n {
		m := storetest.Msg(key, i)
		m.Payload = json.RawMessage(`{"p":"` + strings.Repeat("x", 100*(i%7+1)) + `"}`)
		require.NoError(t, s.Append(context.Background(), key, m))
	}
	var got []string
	q := store.Query{Limit: store.MaxHistoryLimit, MaxBytes: 2000}
	for range n {
		p, err := s.History(context.Background(), key, q)
		require.NoError(t, err)
		got = append(storetest.IDs(p.Messages), got...)
		if !p.Truncated {
			break
		}
		q.BeforeID = p.Messages[0].ID
	}
	require.Len(t, got, n, "every message once, in order, through pages of 2000 bytes")
	for i, id := range got {
		assert.Equal(t, storetest.Msg(key, i).ID, id)
	}
}

func TestAnEntryThatCannotFitTheBudgetIsNotSentToLearnThePageIsTruncated(t *testing.T) {
	mr := sharedRedis(t)
	c := client(t, mr)
	meter := &replyMeter{}
	c.AddHook(meter)
	s := newStore(t, mr, Options{Client: c})
	for i, size := range []int{100 << 10, 1 << 10, 100 << 10, 100 << 10} {
		m := storetest.Msg(key, i)
		m.Payload = json.RawMessage(`{"p":"` + strings.Repeat("x", size) + `"}`)
		require.NoError(t, s.Append(context.Background(), key, m))
	}

	meter.bytes.Store(0)
	p, err := s.History(context.Background(), key, store.Query{Limit: 10, MaxBytes: 150 << 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00003"}, storetest.IDs(p.Messages))
	assert.True(t, p.Truncated, "m00002 was left out")
	assert.Less(t, meter.bytes.Load(), int64(150<<10), "only the newest message crossed the wire")

	p, err = s.History(context.Background(), key, store.Query{Limit: 10, MaxBytes: 150 << 10, BeforeID: "m00003"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00001", "m00002"}, storetest.IDs(p.Messages), "a small older message that fits is still read")
	assert.True(t, p.Truncated, "m00000 was left out")

	p, err = s.History(context.Background(), key, store.Query{Limit: 10, MaxBytes: 150 << 10, BeforeID: "m00003", SinceID: "m00000"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00001", "m00002"}, storetest.IDs(p.Messages))
	assert.False(t, p.Truncated, "the since bound, not the budget, ended the page")
	assert.True(t, p.Complete)
}
