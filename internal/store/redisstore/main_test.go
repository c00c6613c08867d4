package redisstore

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package on leaked goroutines (client pools, fake
// servers) once the shared miniredis is gone.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	shared     *miniredis.Miniredis
	sharedOnce sync.Once
	prefixSeq  atomic.Int64
)

// sharedRedis is one miniredis for the tests that do not inject faults;
// they stay apart by key prefix.
func sharedRedis(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	sharedOnce.Do(func() {
		mr, err := miniredis.Run()
		if err != nil {
			panic(err)
		}
		shared = mr
	})
	return shared
}

// client returns a go-redis client of mr closed at cleanup.
func client(t testing.TB, mr *miniredis.Miniredis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store on mr with a prefix of its own, closed at cleanup.
func newStore(t testing.TB, mr *miniredis.Miniredis, o Options) *Store {
	t.Helper()
	if o.Client == nil {
		o.Client = client(t, mr)
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "t" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":"
	}
	s, err := New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
