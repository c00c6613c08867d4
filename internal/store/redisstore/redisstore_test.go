package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/storetest"
)

var key = store.Key{Tenant: "acme", Room: "science", Channel: "explore"}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, sharedRedis(t), Options{MaxLen: storetest.MinCapacity})
	})
}

func appendN(t *testing.T, s *Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, s.Append(context.Background(), key, storetest.Msg(key, i)))
	}
}

func TestKeyPartsAreEscapedSoKeysNeverCollide(t *testing.T) {
	for _, c := range []struct {
		key  store.Key
		want string
	}{
		{store.Key{Tenant: "acme", Room: "lobby", Channel: "main"}, "p:{acme:lobby:main}:stream"},
		{store.Key{Tenant: "a:b", Room: "c", Channel: "d"}, "p:{a%3Ab:c:d}:stream"},
		{store.Key{Tenant: "a", Room: "b:c", Channel: "d"}, "p:{a:b%3Ac:d}:stream"},
		{store.Key{Tenant: "", Room: "{tag}", Channel: "100%"}, "p:{:%7Btag%7D:100%25}:stream"},
		{store.Key{Tenant: "t", Room: "new\nline", Channel: "del\x7f"}, "p:{t:new%0Aline:del%7F}:stream"},
		{store.Key{Tenant: "t", Room: "été 🚀", Channel: "a b/c"}, "p:{t:été 🚀:a b/c}:stream"},
	} {
		assert.Equal(t, c.want, keysFor("p:", c.key).stream, "%q", c.key)
	}
	seen := map[string]store.Key{}
	for _, k := range []store.Key{
		{Tenant: "a:b", Room: "c", Channel: "d"}, {Tenant: "a", Room: "b:c", Channel: "d"},
		{Tenant: "a", Room: "b", Channel: "c:d"}, {Tenant: "a%3Ab", Room: "c", Channel: "d"},
		{Tenant: "X", Room: "r", Channel: "c"}, {Tenant: "Y", Room: "r", Channel: "c"},
		{Tenant: "", Room: "X:r", Channel: "c"}, {Tenant: "X", Room: "", Channel: "r:c"},
	} {
		name := keysFor("p:", k).stream
		other, dup := seen[name]
		require.False(t, dup, "%q and %q share %s", k, other, name)
		seen[name] = k
	}
}

func TestTheThreeKeysShareOneClusterHashTag(t *testing.T) {
	k := keysFor("arqonbus:", store.Key{Tenant: "{a}", Room: "b}", Channel: "{c"})
	tag := func(s string) string {
		open := strings.IndexByte(s, '{')
		end := strings.IndexByte(s[open+1:], '}')
		return s[open+1 : open+1+end]
	}
	assert.Equal(t, "%7Ba%7D:b%7D:%7Bc", tag(k.stream))
	assert.Equal(t, tag(k.stream), tag(k.index))
	assert.Equal(t, tag(k.stream), tag(k.order))
}

func TestTrimmingKeepsTheIndexInStep(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{MaxLen: 5, KeyPrefix: "x:"})
	appendN(t, s, 0, 12)
	ctx := context.Background()
	k := keysFor("x:", key)
	n, err := s.Count(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)
	c := client(t, mr)
	assert.Equal(t, int64(5), c.HLen(ctx, k.index).Val(), "trimmed ids leave the index")
	assert.Equal(t, int64(5), c.LLen(ctx, k.order).Val())

	p, err := s.History(ctx, key, store.Query{Limit: 50, SinceID: "m00003"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00007", "m00008", "m00009", "m00010", "m00011"}, storetest.IDs(p.Messages))
	assert.False(t, p.Complete, "a trimmed since id leaves a gap")
	p, err = s.History(ctx, key, store.Query{Limit: 50, SinceID: "m00008"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00009", "m00010", "m00011"}, storetest.IDs(p.Messages))
	assert.True(t, p.Complete)
	_, found, err := s.Locate(ctx, key, "m00001")
	require.NoError(t, err)
	assert.False(t, found)
}

func TestARepeatedIDStaysIndexedAtItsNewestEntry(t *testing.T) {
	s := newStore(t, miniredis.RunT(t), Options{MaxLen: 3})
	ctx := context.Background()
	m := storetest.Msg(key, 0)
	m.ID = "again"
	require.NoError(t, s.Append(ctx, key, m))
	appendN(t, s, 1, 3)
	m.Timestamp, m.Payload = storetest.Msg(key, 3).Timestamp, []byte(`{"second":true}`)
	require.NoError(t, s.Append(ctx, key, m)) // trims the first "again"
	env, found, err := s.Locate(ctx, key, "again")
	require.NoError(t, err)
	require.True(t, found)
	assert.JSONEq(t, `{"second":true}`, string(env.Payload))
}

func TestTTLExpiresTheStreamAndItsIndex(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{TTL: time.Minute, KeyPrefix: "ttl:"})
	appendN(t, s, 0, 3)
	k := keysFor("ttl:", key)
	for _, name := range []string{k.stream, k.index, k.order} {
		assert.Equal(t, time.Minute, mr.TTL(name), name)
	}
	mr.FastForward(30 * time.Second)
	appendN(t, s, 3, 4)
	assert.Equal(t, time.Minute, mr.TTL(k.stream), "an append renews the TTL")
	mr.FastForward(61 * time.Second)
	for _, name := range []string{k.stream, k.index, k.order} {
		assert.False(t, mr.Exists(name), name)
	}
	n, err := s.Count(context.Background(), key)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestEntryIDsCarryTheMessageTime(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{KeyPrefix: "ids:"})
	ctx := context.Background()
	ts := []time.Duration{0, 10, 5, 20} // the third message is late
	for i, d := range ts {
		m := storetest.Msg(key, i)
		m.Timestamp = storetest.Base.Add(d * time.Second)
		require.NoError(t, s.Append(ctx, key, m))
	}
	entries, err := mr.Stream(keysFor("ids:", key).stream)
	require.NoError(t, err)
	require.Len(t, entries, 4)
	base := storetest.Base.UnixMilli()
	assert.Equal(t, []string{
		(streamID{uint64(base), 0}).String(),
		(streamID{uint64(base + 10000), 0}).String(),
		(streamID{uint64(base + 10000), 1}).String(), // late: next id after its predecessor
		(streamID{uint64(base + 20000), 0}).String(),
	}, []string{entries[0].ID, entries[1].ID, entries[2].ID, entries[3].ID})

	p, err := s.History(ctx, key, store.Query{Limit: 50, SinceTime: storetest.Base.Add(4 * time.Second)})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00001", "m00002", "m00003"}, storetest.IDs(p.Messages), "since time finds the late message")
}

func TestDamagedFieldsAreLoggedCountedAndTheEntryKept(t *testing.T) {
	mr := miniredis.RunT(t)
	var logs bytes.Buffer
	m := metrics.New(prometheus.NewRegistry())
	s := newStore(t, mr, Options{
		KeyPrefix: "bad:",
		Metrics:   m,
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	appendN(t, s, 0, 1)
	stream := keysFor("bad:", key).stream
	entry, err := mr.XAdd(stream, "*", []string{
		"id", "damaged", "ts", "yesterday", "type", "message",
		"payload", `{"unterminated":`, "metadata", `[1,2]`, "future_field", "x",
	})
	require.NoError(t, err)
	appendN(t, s, 1, 2)

	p, err := s.History(context.Background(), key, store.Query{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"m00000", "damaged", "m00001"}, storetest.IDs(p.Messages), "the damaged entry is kept")
	got := p.Messages[1]
	assert.Equal(t, "message", got.Type)
	assert.True(t, got.Timestamp.IsZero())
	assert.Nil(t, got.Payload)
	assert.Nil(t, got.Metadata)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.StorageDecodeFailures), "one damaged entry")
	for _, field := range []string{"ts", "payload", "metadata"} {
		assert.Contains(t, logs.String(), "field="+field)
	}
	assert.Contains(t, logs.String(), "level=DEBUG")
	assert.Contains(t, logs.String(), "entry="+entry)
	assert.Contains(t, logs.String(), "stream="+stream)
	assert.NotContains(t, logs.String(), "future_field", "unknown fields are not failures")
}

func TestAStaleIndexEntryMakesThePageIncomplete(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{KeyPrefix: "stale:"})
	appendN(t, s, 0, 3)
	mr.HSet(keysFor("stale:", key).index, "ghost", "1-0") // older than every entry
	ctx := context.Background()
	p, err := s.History(ctx, key, store.Query{Limit: 10, SinceID: "ghost"})
	require.NoError(t, err)
	assert.Equal(t, []string{"m00000", "m00001", "m00002"}, storetest.IDs(p.Messages))
	assert.False(t, p.Complete)
	p, err = s.History(ctx, key, store.Query{Limit: 10, BeforeID: "ghost"})
	require.NoError(t, err)
	assert.Empty(t, p.Messages)
	assert.False(t, p.Complete)
}

func TestServerErrorsWrapErrUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{Timeout: time.Second})
	ctx := context.Background()
	appendN(t, s, 0, 1)
	mr.SetError("MASTERDOWN Link with MASTER is down")
	err := s.Append(ctx, key, storetest.Msg(key, 1))
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.Equal(t, "server error MASTERDOWN", store.ErrorReason(err))
	assert.Contains(t, err.Error(), "append acme/science/explore")
	_, err = s.History(ctx, key, store.Query{Limit: 5})
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.History(ctx, key, store.Query{Limit: 5, SinceID: "m00000"})
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.Count(ctx, key)
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, _, err = s.Locate(ctx, key, "m00000")
	assert.ErrorIs(t, err, store.ErrUnavailable)
	assert.ErrorIs(t, s.Ping(ctx), store.ErrUnavailable)

	mr.SetError("")
	require.NoError(t, s.Append(ctx, key, storetest.Msg(key, 1)))
	require.NoError(t, s.Ping(ctx))
}

func TestARefusedConnectionIsUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	s, err := New(Options{URL: "redis://" + mr.Addr(), Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	mr.Close()
	start := time.Now()
	err = s.Append(context.Background(), key, storetest.Msg(key, 0))
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.Equal(t, "connection refused", store.ErrorReason(err))
	assert.Less(t, time.Since(start), 4*time.Second, "a refused dial fails before the timeout")
}

// silentServer accepts connections and never answers, like a hung Redis.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestATimeoutIsUnavailable(t *testing.T) {
	s, err := New(Options{URL: "redis://" + silentServer(t), Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	start := time.Now()
	err = s.Append(context.Background(), key, storetest.Msg(key, 0))
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.Equal(t, "timeout", store.ErrorReason(err))
	assert.Less(t, time.Since(start), 2*time.Second, "bounded by Options.Timeout")
}

func TestACallerThatGivesUpIsNotABackendFailure(t *testing.T) {
	s := newStore(t, sharedRedis(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Append(ctx, key, storetest.Msg(key, 0))
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, store.ErrUnavailable)
}

func TestTheScriptIsReloadedAfterAFlush(t *testing.T) {
	mr := miniredis.RunT(t)
	c := client(t, mr)
	s := newStore(t, mr, Options{Client: c})
	appendN(t, s, 0, 1)
	require.NoError(t, c.ScriptFlush(context.Background()).Err())
	appendN(t, s, 1, 2)
	n, err := s.Count(context.Background(), key)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"a negative timeout", Options{URL: "redis://localhost", Timeout: -1}},
		{"a negative max length", Options{URL: "redis://localhost", MaxLen: -1}},
		{"a sub-millisecond TTL", Options{URL: "redis://localhost", TTL: time.Microsecond}},
		{"a prefix with a hash tag", Options{URL: "redis://localhost", KeyPrefix: "a{b}:"}},
		{"no URL and no client", Options{}},
		{"another scheme", Options{URL: "http://localhost"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.o)
			assert.Error(t, err)
		})
	}
}

func TestURLErrorsNeverShowThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://user:s3cr3t@host:badport",
		"redis://user:s3cr3t@host:6379/notadb",
		"redis://user:s3cr3t@host:6379?nonsense=1",
		"redis://user:s3cr3t@host:6379?cluster=maybe",
		"redis://user:s3cr3t@host:6379?master_name=m&bogus=1",
		"redis://user:s3cr3t@host:6379?addr=h2:1&bogus=1",
	} {
		_, err := New(Options{URL: u})
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "s3cr3t", u)
	}
}

func TestURLsChooseTheTopology(t *testing.T) {
	for _, c := range []struct {
		url, want string
	}{
		{"redis://localhost:6379/2", topoSingle},
		{"rediss://user:pw@localhost:6380", topoSingle},
		{"redis://localhost:26379?master_name=mymaster&addr=localhost:26380", topoSentinel},
		{"redis://localhost:7000?addr=localhost:7001&addr=localhost:7002", topoCluster},
		{"rediss://localhost:7000?cluster=true", topoCluster},
	} {
		c2, topo, err := newClient(c.url, time.Second)
		require.NoError(t, err, c.url)
		assert.Equal(t, c.want, topo, c.url)
		require.NoError(t, c2.Close())
	}
}

func TestAStoreDialledFromAURLAuthenticates(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("pw-1234")
	s, err := New(Options{URL: "redis://:pw-1234@" + mr.Addr() + "/0", Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, s.Ping(context.Background()))
	appendN(t, s, 0, 1)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")

	bad, err := New(Options{URL: "redis://:wrong-pw@" + mr.Addr(), Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = bad.Close() })
	err = bad.Ping(context.Background())
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.NotContains(t, err.Error(), "wrong-pw")
	assert.NotContains(t, store.ErrorReason(err), "wrong-pw")
}

// The batcher skips an append whose caller stopped waiting (deadline passed
// or context ended): a refused message must not be written late.
func TestABatchSkipsAppendsWhoseCallerGaveUp(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, mr, Options{KeyPrefix: "late:"})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	k := keysFor("late:", key)
	reqs := []*appendReq{
		{parent: context.Background(), deadline: time.Now().Add(-time.Millisecond)},
		{parent: cancelled, deadline: time.Now().Add(time.Minute)},
	}
	for _, r := range reqs {
		r.args = entryArgs(storetest.Msg(key, 1), cmdEvalSha, appendSHA, numAppendKeys, k.stream, k.index, k.order,
			"100", "0", "1000", "m1")
		r.done = make(chan error, 1)
	}
	s.runBatch(reqs)
	assert.ErrorIs(t, <-reqs[0].done, context.DeadlineExceeded)
	assert.ErrorIs(t, <-reqs[1].done, context.Canceled)
	assert.False(t, mr.Exists(k.stream), "nothing was written")
}

func TestEntryArgsAreExactlySized(t *testing.T) {
	full := storetest.Msg(key, 7)
	full.FromClient, full.ToClient, full.Command, full.RequestID = "f", "t", "c", "r"
	full.Status, full.Error, full.ErrorCode = "s", "e", "E"
	full.Args, full.Metadata = []byte(`{"a":1}`), []byte(`{"m":1}`)
	for _, env := range []*protocol.Envelope{{}, storetest.Msg(key, 1), full} {
		args := entryArgs(env, "head")
		assert.Equal(t, len(args), cap(args), "no slot wasted, none grown")
		assert.Equal(t, "head", args[0])
	}
	assert.Len(t, entryArgs(full), 2*17, "every field of a full envelope is stored")
}
