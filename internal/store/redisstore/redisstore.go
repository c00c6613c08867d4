package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// Defaults of Options.
const (
	DefaultTimeout   = 2 * time.Second // ARQONBUS_REDIS_TIMEOUT
	DefaultMaxLen    = 10000           // entries per stream, ARQONBUS_MAX_HISTORY_SIZE
	DefaultKeyPrefix = "arqonbus:"
)

//go:embed append.lua
var appendLua string

// The head of an append command: EVALSHA sha 3 stream index order, or EVAL
// with the source (which loads the script) when Redis does not know the
// hash yet. The values are interfaces made once, so building a command
// boxes none of them.
var (
	cmdEvalSha    any = "evalsha"
	cmdEval       any = "eval"
	appendSHA     any = redis.NewScript(appendLua).Hash()
	appendSource  any = appendLua
	numAppendKeys any = 3
)

// appendKeyPos is where the keys start in an append command.
const appendKeyPos = 3

var (
	_ store.Store   = (*Store)(nil)
	_ store.Locator = (*Store)(nil)
)

// Options configures New. Zero values take the documented defaults.
type Options struct {
	// URL is redis:// or rediss:// (see NewClient for Sentinel and Cluster).
	// Ignored when Client is set.
	URL string
	// Client, when set, is used instead of dialling URL; the caller keeps
	// ownership and closes it (tests, or an app sharing one client).
	Client redis.UniversalClient
	// Timeout bounds every store call, all its round trips included.
	// Default DefaultTimeout.
	Timeout time.Duration
	// MaxLen is the approximate number of entries kept per stream (Redis may
	// keep up to one macro node, ~100 entries, more). Default DefaultMaxLen.
	MaxLen int64
	// TTL expires a stream and its index after this long without appends
	// (millisecond precision); 0 keeps them until trimmed.
	TTL time.Duration
	// BatchLinger, when positive, lets a batch of appends wait up to this
	// long for more while appends keep coming (within busyGap of the
	// previous batch's answer): fewer, larger pipelines, so less CPU for
	// Redis and the server, for up to this much more latency per append
	// under load. 0 sends what is waiting at once.
	BatchLinger time.Duration
	// KeyPrefix starts every key; it must not contain '{' or '}', which
	// would break the per-stream hash tag. Default DefaultKeyPrefix.
	KeyPrefix string
	// Logger receives DEBUG lines for damaged stored fields. Default: none.
	Logger *slog.Logger
	// Metrics counts decode failures. Default: a private registry.
	Metrics *metrics.Metrics
}

// Store is the Redis Streams history store.
type Store struct {
	client  redis.UniversalClient
	owned   bool // client was built from URL: Close closes it
	timeout time.Duration
	linger  time.Duration // BatchLinger
	// lingering is true while the batcher waits out a linger (tests watch it).
	lingering atomic.Bool
	// answered is when the batcher last finished a batch (Unix ns; only
	// kept with a linger): an append within busyGap of it finds the store
	// busy. An atomic so tests can wait for the store to be idle.
	answered atomic.Int64
	maxLen   string // XADD MAXLEN argument
	ttl      string // milliseconds, "0" for none
	prefix   string
	log      *slog.Logger
	m        *metrics.Metrics

	appends chan *appendReq // to the batchers
	stop    chan struct{}
	wg      sync.WaitGroup

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New validates o and returns a store. It does not contact Redis: go-redis
// connects on first use, so a store can be created while Redis is down
// (degraded start) and Ping tells whether it answers.
func New(o Options) (*Store, error) {
	if o.Timeout < 0 || o.MaxLen < 0 || o.TTL < 0 || o.BatchLinger < 0 {
		return nil, errors.New("redisstore: Timeout, MaxLen, TTL and BatchLinger must not be negative")
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return nil, errors.New("redisstore: KeyPrefix must not contain '{' or '}'")
	}
	if o.TTL > 0 && o.TTL < time.Millisecond {
		return nil, errors.New("redisstore: TTL must be at least 1ms")
	}
	s := &Store{
		client:  o.Client,
		timeout: orDefault(o.Timeout, DefaultTimeout),
		maxLen:  strconv.FormatInt(orDefault(o.MaxLen, DefaultMaxLen), 10),
		ttl:     strconv.FormatInt(o.TTL.Milliseconds(), 10),
		linger:  o.BatchLinger,
		prefix:  o.KeyPrefix,
		log:     o.Logger,
		m:       o.Metrics,
	}
	if s.prefix == "" {
		s.prefix = DefaultKeyPrefix
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.m == nil {
		s.m = metrics.New(nil)
	}
	if s.client == nil {
		c, err := NewClient(o.URL, s.timeout)
		if err != nil {
			return nil, err
		}
		s.client, s.owned = c, true
	}
	s.appends, s.stop = make(chan *appendReq), make(chan struct{})
	n := batchers
	if s.linger > 0 {
		n = 1 // one lingering batcher gathers everything; a second would split its batches
	}
	s.wg.Add(n)
	for range n {
		go s.batch()
	}
	return s, nil
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Append stores env under key with the append script: XADD (trimming with
// MAXLEN ~), the id index and its trimming, and the TTL, atomically.
func (s *Store) Append(ctx context.Context, key store.Key, env *protocol.Envelope) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	k := keysFor(s.prefix, key)
	ms := max(env.Timestamp.UnixMilli(), 0)
	// The whole EVALSHA command, built once: go-redis's EvalSha would copy
	// the arguments into a slice of its own.
	args := entryArgs(env, cmdEvalSha, appendSHA, numAppendKeys, k.stream, k.index, k.order,
		s.maxLen, s.ttl, strconv.FormatInt(ms, 10), env.ID)
	// Every message passes here, so the time bound is a pooled timer and a
	// deadline rather than a context of its own (three allocations each).
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	req := &appendReq{parent: ctx, deadline: deadline, args: args, done: make(chan error, 1)}
	t := getTimer(time.Until(deadline))
	defer putTimer(t)
	var err error
	select {
	case s.appends <- req:
		select {
		case err = <-req.done:
		case <-t.C:
			err = context.DeadlineExceeded
		case <-ctx.Done():
			err = ctx.Err()
		}
	case <-t.C:
		err = context.DeadlineExceeded
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.stop:
		return store.ErrClosed
	}
	if err != nil {
		return wrap(ctx, "append", key.String(), err)
	}
	return nil
}

var timerPool sync.Pool

// getTimer returns a running timer from the pool; putTimer stops it and
// returns it. A stopped timer's channel holds no stale tick (Go 1.23+).
func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}

// Count returns the stream length (XLEN). With MAXLEN ~ it may exceed MaxLen
// by up to one macro node.
func (s *Store) Count(ctx context.Context, key store.Key) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := s.client.XLen(cctx, keysFor(s.prefix, key).stream).Result()
	if err != nil {
		return 0, wrap(ctx, "count", key.String(), err)
	}
	return n, nil
}

// Ping checks that Redis answers within the timeout.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(cctx).Err(); err != nil {
		return wrap(ctx, "ping", "", err)
	}
	return nil
}

// Close makes later calls fail with store.ErrClosed and closes the client
// if the store dialled it. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.wg.Wait()
		if s.owned {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("redisstore: close: %w", err)
			}
		}
	})
	return s.closeErr
}
