package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// MinCapacity is how many messages per key a store under test must keep:
// the suite writes up to this many to one key and expects them all back.
const MinCapacity = 1000

// Base is the timestamp of the first message the suite writes; later ones
// follow one second apart unless a test says otherwise.
var Base = time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)

// Run runs the contract suite. newStore must return an empty store that
// keeps at least MinCapacity messages per key and shares nothing with other
// stores it returns (a fresh instance or a fresh key prefix). Run closes it.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	open := func(t *testing.T) store.Store {
		t.Helper()
		t.Parallel()
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"history returns appended messages oldest first", testOrder},
		{"history returns the newest messages when limited", testNewestN},
		{"a zero limit means the default and a large one the maximum", testLimitClamp},
		{"since id is exclusive and keeps the newest", testSinceID},
		{"before id is exclusive", testBeforeID},
		{"since and before ids bound both ends", testBetweenIDs},
		{"an unknown since id answers what is stored and is incomplete", testUnknownSinceID},
		{"an unknown before id answers nothing and is incomplete", testUnknownBeforeID},
		{"since time is exclusive", testSinceTime},
		{"before time is exclusive", testBeforeTime},
		{"time bounds compare at microsecond precision", testMicroseconds},
		{"time and id bounds combine", testMixedBounds},
		{"a byte budget keeps the newest messages that fit and says it truncated", testMaxBytes},
		{"a byte budget smaller than the newest message still returns it", testMaxBytesNewest},
		{"a byte budget that fits the whole page does not truncate", testMaxBytesFits},
		{"a byte budget applies inside id and time bounds", testMaxBytesBounded},
		{"history of an unknown key is empty and complete", testEmptyKey},
		{"keys of different tenants, rooms and channels never mix", testKeysIsolated},
		{"every field round-trips byte for byte", testRoundTrip},
		{"append does not keep the caller's buffers", testCallerBuffers},
		{"history results are the caller's to modify", testResultsOwned},
		{"count reports the messages stored per key", testCount},
		{"concurrent appends keep every message and each writer's order", testConcurrent},
		{"locate finds a stored message by id", testLocate},
		{"ping answers while the store is open", testPing},
		{"close is idempotent and later calls fail with ErrClosed", testClose},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
}

var (
	keyA = store.Key{Tenant: "acme", Room: "science", Channel: "explore"}
	keyB = store.Key{Tenant: "acme", Room: "science", Channel: "general"}
)

// Msg returns the suite's i-th message for key: id m0000i, timestamp Base+i s.
func Msg(key store.Key, i int) *protocol.Envelope {
	return &protocol.Envelope{
		ID:        fmt.Sprintf("m%05d", i),
		Timestamp: Base.Add(time.Duration(i) * time.Second),
		Type:      protocol.TypeMessage,
		Version:   protocol.Version,
		Room:      key.Room,
		Channel:   key.Channel,
		Sender:    "arq_client_0123456789abcdef0123456789abcdef",
		Payload:   json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
	}
}

// fill appends messages from..to-1 of key and returns their ids.
func fill(t *testing.T, s store.Store, key store.Key, from, to int) []string {
	t.Helper()
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		m := Msg(key, i)
		require.NoError(t, s.Append(context.Background(), key, m))
		ids = append(ids, m.ID)
	}
	return ids
}

func history(t *testing.T, s store.Store, key store.Key, q store.Query) store.Page {
	t.Helper()
	p, err := s.History(context.Background(), key, q)
	require.NoError(t, err)
	require.NotNil(t, p.Messages, "an empty page still has a non-nil slice")
	return p
}

// IDs lists the message ids of msgs, for compact assertions.
func IDs(msgs []protocol.Envelope) []string {
	ids := make([]string, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
	}
	return ids
}

func testOrder(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 5)
	p := history(t, s, keyA, store.Query{Limit: 10})
	assert.Equal(t, ids, IDs(p.Messages))
	assert.True(t, p.Complete)
}

func testNewestN(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 3})
	assert.Equal(t, ids[7:], IDs(p.Messages))
	assert.True(t, p.Complete)
}

func testLimitClamp(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, store.MaxHistoryLimit+10)
	p := history(t, s, keyA, store.Query{})
	assert.Equal(t, ids[len(ids)-store.DefaultHistoryLimit:], IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 100000})
	assert.Equal(t, ids[10:], IDs(p.Messages))
}

func testSinceID(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 50, SinceID: ids[5]})
	assert.Equal(t, ids[6:], IDs(p.Messages))
	assert.True(t, p.Complete)
	p = history(t, s, keyA, store.Query{Limit: 2, SinceID: ids[5]})
	assert.Equal(t, ids[8:], IDs(p.Messages), "newest two after the bound")
	p = history(t, s, keyA, store.Query{Limit: 50, SinceID: ids[9]})
	assert.Empty(t, p.Messages)
	assert.True(t, p.Complete)
}

func testBeforeID(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 3, BeforeID: ids[5]})
	assert.Equal(t, ids[2:5], IDs(p.Messages))
	assert.True(t, p.Complete)
	p = history(t, s, keyA, store.Query{Limit: 3, BeforeID: ids[0]})
	assert.Empty(t, p.Messages)
	assert.True(t, p.Complete)
}

func testBetweenIDs(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 50, SinceID: ids[2], BeforeID: ids[6]})
	assert.Equal(t, ids[3:6], IDs(p.Messages))
	assert.True(t, p.Complete)
	p = history(t, s, keyA, store.Query{Limit: 2, SinceID: ids[2], BeforeID: ids[6]})
	assert.Equal(t, ids[4:6], IDs(p.Messages))
	for _, q := range []store.Query{
		{Limit: 50, SinceID: ids[5], BeforeID: ids[5]},
		{Limit: 50, SinceID: ids[5], BeforeID: ids[6]},
		{Limit: 50, SinceID: ids[7], BeforeID: ids[3]},
	} {
		p = history(t, s, keyA, q)
		assert.Empty(t, p.Messages, "since %s before %s", q.SinceID, q.BeforeID)
		assert.True(t, p.Complete, "since %s before %s", q.SinceID, q.BeforeID)
	}
}

func testUnknownSinceID(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 5)
	p := history(t, s, keyA, store.Query{Limit: 3, SinceID: "no-such-id"})
	assert.Equal(t, ids[2:], IDs(p.Messages))
	assert.False(t, p.Complete)
}

func testUnknownBeforeID(t *testing.T, s store.Store) {
	fill(t, s, keyA, 0, 5)
	p := history(t, s, keyA, store.Query{Limit: 3, BeforeID: "no-such-id"})
	assert.Empty(t, p.Messages)
	assert.False(t, p.Complete)
}

func testSinceTime(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 50, SinceTime: Msg(keyA, 6).Timestamp})
	assert.Equal(t, ids[7:], IDs(p.Messages))
	assert.True(t, p.Complete)
	p = history(t, s, keyA, store.Query{Limit: 50, SinceTime: Base.Add(-time.Hour)})
	assert.Equal(t, ids, IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 2, SinceTime: Msg(keyA, 3).Timestamp})
	assert.Equal(t, ids[8:], IDs(p.Messages))
}

func testBeforeTime(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 50, BeforeTime: Msg(keyA, 4).Timestamp})
	assert.Equal(t, ids[:4], IDs(p.Messages))
	assert.True(t, p.Complete)
	p = history(t, s, keyA, store.Query{Limit: 2, BeforeTime: Msg(keyA, 4).Timestamp.Add(time.Microsecond)})
	assert.Equal(t, ids[3:5], IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 50, BeforeTime: Base})
	assert.Empty(t, p.Messages)
}

func testMicroseconds(t *testing.T, s store.Store) {
	var ids []string
	for i := range 4 {
		m := Msg(keyA, i)
		m.Timestamp = Base.Add(time.Duration(i) * time.Microsecond)
		require.NoError(t, s.Append(context.Background(), keyA, m))
		ids = append(ids, m.ID)
	}
	p := history(t, s, keyA, store.Query{Limit: 50, SinceTime: Base.Add(time.Microsecond)})
	assert.Equal(t, ids[2:], IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 50, BeforeTime: Base.Add(2 * time.Microsecond)})
	assert.Equal(t, ids[:2], IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 50, SinceTime: Base, BeforeTime: Base.Add(3 * time.Microsecond)})
	assert.Equal(t, ids[1:3], IDs(p.Messages))
}

func testMixedBounds(t *testing.T, s store.Store) {
	ids := fill(t, s, keyA, 0, 10)
	p := history(t, s, keyA, store.Query{Limit: 50, SinceID: ids[2], BeforeTime: Msg(keyA, 7).Timestamp})
	assert.Equal(t, ids[3:7], IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 50, SinceTime: Msg(keyA, 4).Timestamp, BeforeID: ids[8]})
	assert.Equal(t, ids[5:8], IDs(p.Messages))
	p = history(t, s, keyA, store.Query{Limit: 50, SinceID: ids[6], SinceTime: Msg(keyA, 2).Timestamp})
	assert.Equal(t, ids[7:], IDs(p.Messages), "the tighter lower bound wins")
}

// sized returns message i of key with a payload that makes store.Size of it
// exactly n bytes.
func sized(key store.Key, i, n int) *protocol.Envelope {
	m := Msg(key, i)
	m.Payload = json.RawMessage(`{"p":""}`)
	pad := n - store.Size(m)
	m.Payload = json.RawMessage(`{"p":"` + strings.Repeat("x", pad) + `"}`)
	return m
}

// fillSized appends messages from..to-1 of key, each of store.Size n.
func fillSized(t *testing.T, s store.Store, key store.Key, from, to, n int) []string {
	t.Helper()
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		m := sized(key, i, n)
		require.Equal(t, n, store.Size(m))
		require.NoError(t, s.Append(context.Background(), key, m))
		ids = append(ids, m.ID)
	}
	return ids
}

// pageBytes sums store.Size over msgs.
func pageBytes(msgs []protocol.Envelope) int {
	n := 0
	for i := range msgs {
		n += store.Size(&msgs[i])
	}
	return n
}

func testMaxBytes(t *testing.T, s store.Store) {
	ids := fillSized(t, s, keyA, 0, 40, 1000)
	p := history(t, s, keyA, store.Query{Limit: 40, MaxBytes: 3500})
	assert.Equal(t, ids[37:], IDs(p.Messages), "the newest three fit in 3500 bytes")
	assert.LessOrEqual(t, pageBytes(p.Messages), 3500)
	assert.True(t, p.Truncated)
	assert.True(t, p.Complete, "truncation is not a gap")
	p = history(t, s, keyA, store.Query{Limit: 40, MaxBytes: 3500, BeforeID: p.Messages[0].ID})
	assert.Equal(t, ids[34:37], IDs(p.Messages), "paging back with before continues where the budget stopped")
	assert.True(t, p.Truncated)
}

func testMaxBytesNewest(t *testing.T, s store.Store) {
	ids := fillSized(t, s, keyA, 0, 5, 5000)
	p := history(t, s, keyA, store.Query{Limit: 5, MaxBytes: 100})
	assert.Equal(t, ids[4:], IDs(p.Messages))
	assert.True(t, p.Truncated)
	p = history(t, s, keyA, store.Query{Limit: 5, MaxBytes: 100, SinceID: ids[3]})
	assert.Equal(t, ids[4:], IDs(p.Messages), "the only match is returned whatever its size")
	assert.False(t, p.Truncated, "nothing older inside the bounds was left out")
}

func testMaxBytesFits(t *testing.T, s store.Store) {
	ids := fillSized(t, s, keyA, 0, 10, 1000)
	p := history(t, s, keyA, store.Query{Limit: 10, MaxBytes: 10000})
	assert.Equal(t, ids, IDs(p.Messages), "exactly the budget fits")
	assert.False(t, p.Truncated)
	p = history(t, s, keyA, store.Query{Limit: 4, MaxBytes: 5000})
	assert.Equal(t, ids[6:], IDs(p.Messages))
	assert.False(t, p.Truncated, "the limit, not the budget, ended the page")
	p = history(t, s, keyA, store.Query{Limit: 10})
	assert.Equal(t, ids, IDs(p.Messages), "no budget: no bound")
	assert.False(t, p.Truncated)
}

func testMaxBytesBounded(t *testing.T, s store.Store) {
	ids := fillSized(t, s, keyA, 0, 30, 1000)
	p := history(t, s, keyA, store.Query{Limit: 30, MaxBytes: 2500, SinceID: ids[10], BeforeID: ids[20]})
	assert.Equal(t, ids[18:20], IDs(p.Messages))
	assert.True(t, p.Truncated)
	p = history(t, s, keyA, store.Query{Limit: 30, MaxBytes: 2500, BeforeTime: Msg(keyA, 15).Timestamp, SinceTime: Msg(keyA, 12).Timestamp})
	assert.Equal(t, ids[13:15], IDs(p.Messages), "messages 13 and 14 are all the bounds hold")
	assert.False(t, p.Truncated)
	p = history(t, s, keyA, store.Query{Limit: 30, MaxBytes: 2500, SinceID: ids[27]})
	assert.Equal(t, ids[28:], IDs(p.Messages))
	assert.False(t, p.Truncated)
}

func testEmptyKey(t *testing.T, s store.Store) {
	fill(t, s, keyA, 0, 3)
	p := history(t, s, keyB, store.Query{Limit: 10})
	assert.Empty(t, p.Messages)
	assert.True(t, p.Complete)
	n, err := s.Count(context.Background(), keyB)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func testKeysIsolated(t *testing.T, s store.Store) {
	keys := []store.Key{
		{Tenant: "a:b", Room: "c", Channel: "d"},
		{Tenant: "a", Room: "b:c", Channel: "d"},
		{Tenant: "a", Room: "b", Channel: "c:d"},
		{Tenant: "X", Room: "lobby", Channel: "main"},
		{Tenant: "Y", Room: "lobby", Channel: "main"},
		{Tenant: "", Room: "lobby", Channel: "main"},
		{Tenant: "X", Room: "main", Channel: "lobby"},
		{Tenant: "X", Room: "lobby/main", Channel: ""},
		{Tenant: "X/lobby", Room: "main", Channel: ""},
		{Tenant: "%3A", Room: "{x}", Channel: "y"},
		{Tenant: ":", Room: "{x}", Channel: "y"},
		{Tenant: "t", Room: "r\x00", Channel: "c"},
		{Tenant: "t", Room: "r", Channel: "\x00c"},
	}
	for i, k := range keys {
		m := Msg(k, i)
		m.ID = fmt.Sprintf("key%02d", i)
		require.NoError(t, s.Append(context.Background(), k, m))
	}
	for i, k := range keys {
		p := history(t, s, k, store.Query{Limit: 50})
		assert.Equal(t, []string{fmt.Sprintf("key%02d", i)}, IDs(p.Messages), "key %q", k)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	full := protocol.Envelope{
		ID:         "arq_1714564800000000000_42_a1b2c3",
		Timestamp:  time.Date(2024, 5, 1, 12, 0, 0, 999999000, time.UTC),
		Type:       protocol.TypeCommand,
		Version:    protocol.Version,
		Room:       keyA.Room,
		Channel:    keyA.Channel,
		Sender:     "arq_client_aaaa",
		FromClient: "arq_client_aaaa",
		ToClient:   "arq_client_bbbb",
		Payload:    json.RawMessage("{ \"text\" : \"h\\u00e9llo é 🚀\",\n\t\"n\": 1.50e3, \"z\":null, \"a\":[ ] }"),
		Command:    "history",
		Args:       json.RawMessage(`{"room":"science","limit":5}`),
		RequestID:  "req-1",
		Status:     protocol.StatusError,
		Error:      "nope: \"quoted\"\nnewline",
		ErrorCode:  "NOT_FOUND",
		Metadata:   json.RawMessage(`{"trace":{"id":"x"},"tags":["a","b"]}`),
	}
	sparse := protocol.Envelope{ID: "sparse", Type: protocol.TypeTelemetry, Payload: json.RawMessage(`{}`)}
	require.NoError(t, s.Append(context.Background(), keyA, &full))
	require.NoError(t, s.Append(context.Background(), keyA, &sparse))
	p := history(t, s, keyA, store.Query{Limit: 5})
	require.Len(t, p.Messages, 2)
	requireSame(t, full, p.Messages[0])
	requireSame(t, sparse, p.Messages[1])
}

// requireSame compares envelopes field by field: raw JSON byte for byte,
// timestamps as instants in UTC.
func requireSame(t *testing.T, want, got protocol.Envelope) {
	t.Helper()
	assert.Equal(t, string(want.Payload), string(got.Payload), "payload")
	assert.Equal(t, string(want.Args), string(got.Args), "args")
	assert.Equal(t, string(want.Metadata), string(got.Metadata), "metadata")
	assert.True(t, want.Timestamp.Equal(got.Timestamp), "timestamp: want %s, got %s", want.Timestamp, got.Timestamp)
	assert.Equal(t, want.Timestamp.IsZero(), got.Timestamp.IsZero(), "timestamp presence")
	assert.Equal(t, time.UTC, got.Timestamp.Location(), "timestamps come back in UTC")
	want.Payload, want.Args, want.Metadata, want.Timestamp = nil, nil, nil, time.Time{}
	got.Payload, got.Args, got.Metadata, got.Timestamp = nil, nil, nil, time.Time{}
	assert.Equal(t, want, got)
}

func testCallerBuffers(t *testing.T, s store.Store) {
	buf := []byte(`{"v":"original"}{"k":1}{"m":2}`)
	m := Msg(keyA, 0)
	m.Payload, m.Args, m.Metadata = buf[:16], buf[16:23], buf[23:]
	require.NoError(t, s.Append(context.Background(), keyA, m))
	copy(buf, `{"v":"CLOBBERED"}{"k":9}{"m":9}`)
	m.ID = "reused"
	p := history(t, s, keyA, store.Query{Limit: 5})
	require.Len(t, p.Messages, 1)
	assert.Equal(t, `{"v":"original"}`, string(p.Messages[0].Payload))
	assert.Equal(t, `{"k":1}`, string(p.Messages[0].Args))
	assert.Equal(t, `{"m":2}`, string(p.Messages[0].Metadata))
	assert.Equal(t, "m00000", p.Messages[0].ID)
}

func testResultsOwned(t *testing.T, s store.Store) {
	fill(t, s, keyA, 0, 2)
	p := history(t, s, keyA, store.Query{Limit: 5})
	require.Len(t, p.Messages, 2)
	p.Messages[0].Payload[2] = 'X'
	p.Messages[0].Payload = append(p.Messages[0].Payload, "tail"...)
	p.Messages[0].ID = "changed"
	p = history(t, s, keyA, store.Query{Limit: 5})
	assert.Equal(t, []string{"m00000", "m00001"}, IDs(p.Messages))
	assert.Equal(t, `{"n":0}`, string(p.Messages[0].Payload))
	assert.Equal(t, `{"n":1}`, string(p.Messages[1].Payload))
}

func testCount(t *testing.T, s store.Store) {
	fill(t, s, keyA, 0, 7)
	fill(t, s, keyB, 0, 2)
	for _, c := range []struct {
		key  store.Key
		want int64
	}{{keyA, 7}, {keyB, 2}, {store.Key{Tenant: "other", Room: keyA.Room, Channel: keyA.Channel}, 0}} {
		n, err := s.Count(context.Background(), c.key)
		require.NoError(t, err)
		assert.Equal(t, c.want, n, "count of %s", c.key)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each+writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := Msg(keyA, w*each+i)
				m.ID = fmt.Sprintf("w%d-%03d", w, i)
				if err := s.Append(context.Background(), keyA, m); err != nil {
					errs <- err
					return
				}
				// Interleave traffic on another key and reads, so that
				// sharing mistakes show under the race detector.
				if i%10 == 0 {
					if err := s.Append(context.Background(), keyB, Msg(keyB, i)); err != nil {
						errs <- err
					}
					if _, err := s.History(context.Background(), keyA, store.Query{Limit: 5}); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := s.Count(context.Background(), keyA)
	require.NoError(t, err)
	require.Equal(t, int64(writers*each), n)
	p := history(t, s, keyA, store.Query{Limit: store.MaxHistoryLimit})
	require.Len(t, p.Messages, writers*each)
	next := make(map[string]int)
	for _, m := range p.Messages {
		var w, i int
		_, err := fmt.Sscanf(m.ID, "w%d-%03d", &w, &i)
		require.NoError(t, err, m.ID)
		writer := fmt.Sprint(w)
		require.Equal(t, next[writer], i, "writer %d's messages out of order", w)
		next[writer]++
	}
	assert.Len(t, next, writers)
}

func testLocate(t *testing.T, s store.Store) {
	l, ok := s.(store.Locator)
	if !ok {
		t.Skip("store does not implement store.Locator")
	}
	ids := fill(t, s, keyA, 0, 5)
	env, found, err := l.Locate(context.Background(), keyA, ids[3])
	require.NoError(t, err)
	require.True(t, found)
	requireSame(t, *Msg(keyA, 3), env)
	_, found, err = l.Locate(context.Background(), keyA, "no-such-id")
	require.NoError(t, err)
	assert.False(t, found)
	_, found, err = l.Locate(context.Background(), keyB, ids[3])
	require.NoError(t, err)
	assert.False(t, found, "ids are looked up per key")
}

func testPing(t *testing.T, s store.Store) {
	require.NoError(t, s.Ping(context.Background()))
}

func testClose(t *testing.T, s store.Store) {
	fill(t, s, keyA, 0, 1)
	require.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "second close")
	ctx := context.Background()
	closed := func(err error) bool { return errors.Is(err, store.ErrClosed) }
	assert.True(t, closed(s.Append(ctx, keyA, Msg(keyA, 1))), "append after close")
	_, err := s.History(ctx, keyA, store.Query{Limit: 1})
	assert.True(t, closed(err), "history after close: %v", err)
	_, err = s.Count(ctx, keyA)
	assert.True(t, closed(err), "count after close: %v", err)
	assert.True(t, closed(s.Ping(ctx)), "ping after close")
}
