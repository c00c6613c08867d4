// Package rediskv is the kv.Store on Redis, shared by every node. Each
// (tenant, namespace) is a hash of key -> value, beside a sorted set of
// expiry times (ms) for keys with a TTL; each tenant has a key count and a
// set of its namespaces that hold expiries. All keys of a tenant share the
// hash tag {t:<tenant>}, so every script touches one Redis Cluster slot, and
// every write is one Lua script (set, delete, and the sweep of expired
// keys that each operation runs first), so the key limit holds across
// nodes. Expiry times come from the node's clock (Options.Clock), so the
// nodes' clocks must agree to the precision TTLs need; an expired key is
// removed by the next call on its namespace, or by a tenant-wide sweep when
// its tenant is at the key limit or counted. List reads the namespace's
// keys (at most the tenant's key limit) and filters the prefix on the node.
//
// Concurrency: safe for concurrent use; Redis serialises the scripts.
package rediskv

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/rediskey"
)

var _ kv.Store = (*Store)(nil)

// DefaultPrefix starts every key name.
const DefaultPrefix = "arqonbus:kv:"

// defaultTimeout bounds every call when Options.Timeout is 0.
const defaultTimeout = 2 * time.Second

var (
	//go:embed sweep.lua
	sweepLua string
	//go:embed set.lua
	setLua string
	//go:embed get.lua
	getLua string
	//go:embed delete.lua
	deleteLua string
	//go:embed list.lua
	listLua string
	//go:embed count.lua
	countLua string

	setScript    = redis.NewScript(sweepLua + setLua)
	getScript    = redis.NewScript(sweepLua + getLua)
	deleteScript = redis.NewScript(sweepLua + deleteLua)
	listScript   = redis.NewScript(sweepLua + listLua)
	countScript  = redis.NewScript(sweepLua + countLua)
)

// Options configure a Store.
type Options struct {
	Client redis.UniversalClient
	// Prefix starts every key name. Default DefaultPrefix.
	Prefix string
	// Timeout bounds each call. Default 2s (ARQONBUS_REDIS_TIMEOUT).
	Timeout time.Duration
	Limits  kv.Limits
	// Clock reads the time expiries compare with. Default time.Now.
	Clock func() time.Time
}

// Store is the Redis backend. It does not own the client.
type Store struct {
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration
	limits  kv.Limits
	clock   func() time.Time
	closed  atomic.Bool
}

// New returns a Store over o.Client.
func New(o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("rediskv: Client is required")
	}
	if o.Timeout < 0 {
		return nil, errors.New("rediskv: Timeout must not be negative")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Store{c: o.Client, prefix: o.Prefix, timeout: o.Timeout, limits: o.Limits, clock: o.Clock}, nil
}

// names are the Redis keys of one Space.
type names struct {
	base      string // "<prefix>{t:<tenant>}:", the tenant's keys start with it
	count     string // base + "n": live keys of the tenant
	spaces    string // base + "t": escaped namespaces holding expiries
	hash      string // base + "s:" + namespace: key -> value
	expiries  string // base + "e:" + namespace: key scored by expiry (ms)
	namespace string // the escaped namespace
}

// tenantBase is "<prefix>{t:<escaped tenant>}:". Escaping (internal/rediskey)
// keeps '{', '}' and ':' out of the parts, so the tag names the tenant
// alone (never empty, even for the implicit tenant "" of a node without
// auth, which Redis Cluster would not treat as a tag) and ':' only ever
// separates parts: no (tenant, namespace) pair can name another pair's
// keys.
func (s *Store) tenantBase(tenant string) string {
	return s.prefix + "{t:" + rediskey.Escape(tenant) + "}:"
}

func (s *Store) namesFor(sp kv.Space) names {
	base := s.tenantBase(sp.Tenant)
	ns := rediskey.Escape(sp.Namespace)
	return names{
		base: base, count: base + "n", spaces: base + "t",
		hash: base + "s:" + ns, expiries: base + "e:" + ns, namespace: ns,
	}
}

func (s *Store) nowMS() int64 { return s.clock().UnixMilli() }

// call bounds one operation by the timeout and maps its error.
func (s *Store) call(ctx context.Context, op string, run func(ctx context.Context) error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, kv.ErrClosed)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := run(cctx)
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	if perr := ctx.Err(); perr != nil {
		return fmt.Errorf("%s: %w", op, perr)
	}
	return fmt.Errorf("%s: %w: %w", op, kv.ErrUnavailable, err)
}

// Set implements kv.Store.
func (s *Store) Set(ctx context.Context, sp kv.Space, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := s.limits.CheckValue(key, len(value)); err != nil {
		return false, err
	}
	n := s.namesFor(sp)
	now := s.nowMS()
	var expiry int64
	if ttl > 0 {
		expiry = now + max(ttl.Milliseconds(), 1)
	}
	maxKeys := int64(s.limits.MaxKeys)
	if maxKeys <= 0 {
		maxKeys = math.MaxInt64
	}
	var res int64
	err := s.call(ctx, "set", func(ctx context.Context) error {
		var err error
		res, err = setScript.Run(ctx, s.c, []string{n.count, n.hash, n.expiries, n.spaces},
			now, key, value, expiry, maxKeys, n.namespace, n.base).Int64()
		return err
	})
	if err != nil {
		return false, err
	}
	if res < 0 {
		return false, s.limits.KeyLimitError(key)
	}
	return res == 1, nil
}

// Get implements kv.Store.
func (s *Store) Get(ctx context.Context, sp kv.Space, key string) ([]byte, bool, error) {
	n := s.namesFor(sp)
	var v string
	err := s.call(ctx, "get", func(ctx context.Context) error {
		var err error
		v, err = getScript.Run(ctx, s.c, []string{n.count, n.hash, n.expiries}, s.nowMS(), key).Text()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return []byte(v), true, nil
}

// Delete implements kv.Store.
func (s *Store) Delete(ctx context.Context, sp kv.Space, key string) (bool, error) {
	n := s.namesFor(sp)
	var res int64
	err := s.call(ctx, "delete", func(ctx context.Context) error {
		var err error
		res, err = deleteScript.Run(ctx, s.c, []string{n.count, n.hash, n.expiries}, s.nowMS(), key).Int64()
		return err
	})
	return res == 1, err
}

// List implements kv.Store.
func (s *Store) List(ctx context.Context, sp kv.Space, prefix string, limit int) ([]string, error) {
	n := s.namesFor(sp)
	var all []string
	err := s.call(ctx, "list", func(ctx context.Context) error {
		var err error
		all, err = listScript.Run(ctx, s.c, []string{n.count, n.hash, n.expiries}, s.nowMS()).StringSlice()
		return err
	})
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(all))
	for _, k := range all {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return kv.Page(keys, limit), nil
}

// Count implements kv.Store.
func (s *Store) Count(ctx context.Context, tenant string) (int, error) {
	base := s.tenantBase(tenant)
	var res int64
	err := s.call(ctx, "count", func(ctx context.Context) error {
		var err error
		res, err = countScript.Run(ctx, s.c, []string{base + "n", base + "t"}, s.nowMS(), base).Int64()
		return err
	})
	return int(res), err
}

// Close implements kv.Store: later calls fail with ErrClosed. The client
// belongs to the caller.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
