package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// redisBackend is one Redis server that the harness runs.
type redisBackend interface {
	describe() string
	stop(ctx context.Context) error
	start(ctx context.Context) error
	pause(ctx context.Context) error
	unpause(ctx context.Context) error
	// close removes the server and everything it used. Idempotent.
	close(ctx context.Context) error
}

// redisState is where a server with fault controls stands.
type redisState int

const (
	redisRunning redisState = iota
	redisStopped
	redisPaused
)

// RedisServer is a Redis that tests may use. It hands out addresses, not clients:
// each package connects with the client it tests.
type RedisServer struct {
	kind    string
	addr    string
	url     string
	desc    string
	opt     *redis.Options // how the harness reaches it (see call)
	backend redisBackend   // nil for RedisKindURL
	faults  bool           // dedicated to one test: fault controls allowed

	mu    sync.Mutex
	state redisState
}

// Kind tells how the server was found: RedisKindURL, RedisKindContainer or RedisKindProcess.
func (r *RedisServer) Kind() string { return r.kind }

// Addr is the server's host:port (for a unix:// URL, the socket path).
func (r *RedisServer) Addr() string { return r.addr }

// URL is a redis:// URL for the server; for RedisKindURL, the URL as configured.
func (r *RedisServer) URL() string { return r.url }

// String names the server for logs, without a password.
func (r *RedisServer) String() string {
	if r == nil {
		return "redis (not started)"
	}
	return fmt.Sprintf("%s at %s", r.desc, r.addr)
}

var (
	redisPrefixSeq atomic.Uint64
	// redisPrefixRun tells this process's prefixes from those of other test processes
	// that share one Redis (EnvRedisURL).
	redisPrefixRun = func() string {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}()
)

// redisMaxPrefixName bounds the test-name part of a prefix; longer names are cut and
// tagged with a hash.
const redisMaxPrefixName = 48

// Prefix returns a key prefix no other call in any process returns, built from the
// test's name so that keys left in a shared Redis say who wrote them, e.g.
// "test:TestAppend_strict:3fa1c2.7:". It holds no glob or hash-tag characters.
// With RedisKindURL the keys under it are deleted when the test ends.
func (r *RedisServer) Prefix(t testing.TB) string {
	t.Helper()
	p := fmt.Sprintf("test:%s:%s.%d:", redisKeySafe(t.Name()), redisPrefixRun, redisPrefixSeq.Add(1))
	if r.kind == RedisKindURL {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := deleteByPrefix(ctx, r.opt, p); err != nil {
				t.Logf("redistest: delete keys %s*: %v", p, err)
			}
		})
	}
	return p
}

// redisKeySafe maps a test name to letters, digits, '_', '-' and '.', at most
// redisMaxPrefixName bytes.
func redisKeySafe(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			b[i] = '_'
		}
	}
	s := string(b)
	if len(s) > redisMaxPrefixName {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		s = fmt.Sprintf("%s~%08x", s[:redisMaxPrefixName-9], h.Sum32())
	}
	return s
}

// Stop stops the server, as a crash would look to clients: connections drop and
// new ones are refused. Only for servers from RedisWithFaults.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	r.fault(t, "stop", func(ctx context.Context) error {
		switch r.state {
		case redisStopped:
			return nil
		case redisPaused:
			if err := r.backend.unpause(ctx); err != nil {
				return err
			}
		}
		if err := r.backend.stop(ctx); err != nil {
			return err
		}
		r.state = redisStopped
		return nil
	})
}

// Start starts a stopped server at the same address and returns once it answers.
func (r *RedisServer) Start(t testing.TB) {
	t.Helper()
	r.fault(t, "start", func(ctx context.Context) error {
		switch r.state {
		case redisRunning:
			return nil
		case redisPaused:
			if err := r.backend.unpause(ctx); err != nil {
				return err
			}
		case redisStopped:
			if err := r.backend.start(ctx); err != nil {
				return err
			}
		}
		r.state = redisRunning
		return nil
	})
}

// Pause freezes the server: connections are accepted but nothing is answered, as
// with a hung server or a lost network, until Unpause.
func (r *RedisServer) Pause(t testing.TB) {
	t.Helper()
	r.fault(t, "pause", func(ctx context.Context) error {
		switch r.state {
		case redisPaused:
			return nil
		case redisStopped:
			return errors.New("the server is stopped; Start it first")
		}
		if err := r.backend.pause(ctx); err != nil {
			return err
		}
		r.state = redisPaused
		return nil
	})
}

// Unpause resumes a paused server and returns once it answers.
func (r *RedisServer) Unpause(t testing.TB) {
	t.Helper()
	r.fault(t, "unpause", func(ctx context.Context) error {
		switch r.state {
		case redisRunning:
			return nil
		case redisStopped:
			return errors.New("the server is stopped; Start it instead")
		}
		if err := r.backend.unpause(ctx); err != nil {
			return err
		}
		r.state = redisRunning
		return waitReady(ctx, r.opt, nil)
	})
}

func (r *RedisServer) fault(t testing.TB, op string, fn func(ctx context.Context) error) {
	t.Helper()
	if !r.faults {
		t.Fatalf("redistest: %s %s: fault controls are for servers from RedisWithFaults, not the shared one", op, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisDockerOpTimeout+redisReadyTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := fn(ctx); err != nil {
		t.Fatalf("redistest: %s %s: %v", op, r, err)
	}
}

// close removes whatever the server runs on. Safe on nil and idempotent.
func (r *RedisServer) close() error {
	if r == nil || r.backend == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisDockerOpTimeout)
	defer cancel()
	return r.backend.close(ctx)
}

// startRedis starts (or, for RedisKindURL, reaches) a Redis of the given kind. The
// returned server is non-nil whenever close has work to do, even with an error.
func startRedis(ctx context.Context, kind string, faults bool, getenv func(string) string) (*RedisServer, error) {
	switch kind {
	case RedisKindURL:
		raw := getenv(EnvRedisURL)
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvRedisURL, err)
		}
		shown := redactRedisURL(raw)
		srv := &RedisServer{kind: RedisKindURL, addr: opt.Addr, url: raw, desc: "url " + shown, opt: opt}
		rctx, cancel := context.WithTimeout(ctx, redisReadyTimeout)
		defer cancel()
		if err := waitReady(rctx, opt, nil); err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvRedisURL, shown, err)
		}
		return srv, nil
	case RedisKindContainer:
		env := redisDockerState()
		if env.err != nil {
			return nil, env.err
		}
		image := getenv(EnvRedisImage)
		if image == "" {
			image = env.image
		}
		cr, err := startRedisContainer(ctx, env, image, faults)
		var srv *RedisServer
		if cr != nil {
			srv = newRedisServer(RedisKindContainer, cr.addr, cr, faults)
		}
		if err != nil {
			return srv, fmt.Errorf("%w\n(where no registry is reachable, run scripts/redis-image.sh and set %s to the tag it prints)", err, EnvRedisImage)
		}
		return srv, nil
	case RedisKindProcess:
		p, err := startRedisProcess(ctx)
		if p == nil {
			return nil, err
		}
		return newRedisServer(RedisKindProcess, p.addr, p, faults), err
	default:
		return nil, fmt.Errorf("unknown redis kind %q", kind)
	}
}

// newRedisServer wraps a backend that the harness started.
func newRedisServer(kind, addr string, b redisBackend, faults bool) *RedisServer {
	return &RedisServer{
		kind:    kind,
		addr:    addr,
		url:     "redis://" + addr,
		desc:    b.describe(),
		opt:     tcpOptions(addr),
		backend: b,
		faults:  faults,
	}
}

// redisAvailabilityFrom reads what this machine offers, lazily.
func redisAvailabilityFrom(getenv func(string) string) redisAvailability {
	return redisAvailability{url: getenv(EnvRedisURL), container: redisDockerAvailable, process: lookRedisServer}
}

// redisShared is the process-wide Redis behind Redis(t).
var redisShared struct {
	mu      sync.Mutex
	done    bool // resolution ran; srv, err or missing holds its outcome
	stopped bool // RunMain removed it
	srv     *RedisServer
	err     error  // starting failed: every caller fails with it
	missing string // no Redis here: every caller skips (fails under CI) with it
}

// redisRunMainActive is set by RunMain: only then is the shared server removed at the end.
var redisRunMainActive atomic.Bool

// Redis returns the Redis shared by all tests of this process, starting it on first
// use. The package's TestMain must call RunMain, which removes it at the end. Use
// Prefix for keys, so that tests may run in parallel; fault controls are not
// available here (see RedisWithFaults).
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	if !redisRunMainActive.Load() {
		t.Fatal("redistest.Redis: the package's TestMain must call redistest.RunMain(m), which removes the shared Redis when the tests end")
	}
	srv, missing, err := sharedRedis(os.Getenv)
	switch {
	case err != nil:
		t.Fatalf("redistest: shared redis: %v", err)
	case missing != "":
		redisUnavailable(t, os.Getenv, missing)
	}
	return srv
}

func sharedRedis(getenv func(string) string) (*RedisServer, string, error) {
	redisShared.mu.Lock()
	defer redisShared.mu.Unlock()
	if redisShared.stopped {
		return nil, "", errors.New("already removed by RunMain")
	}
	if redisShared.done {
		return redisShared.srv, redisShared.missing, redisShared.err
	}
	redisShared.done = true
	kind, missing, err := pickRedisKind(getenv(EnvRedisMode), false, redisAvailabilityFrom(getenv))
	if err != nil || missing != "" {
		redisShared.missing, redisShared.err = missing, err
		return nil, missing, err
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	srv, err := startRedis(ctx, kind, false, getenv)
	if err != nil {
		redisShared.err = errors.Join(err, srv.close())
		return nil, "", redisShared.err
	}
	redisShared.srv = srv
	announceRedis(fmt.Sprintf("redistest: redis via %s (ready in %s)", srv, time.Since(began).Round(time.Millisecond)))
	return srv, "", nil
}

// stopSharedRedis removes the shared server, if any.
func stopSharedRedis() error {
	redisShared.mu.Lock()
	defer redisShared.mu.Unlock()
	redisShared.stopped = true
	err := redisShared.srv.close()
	redisShared.srv = nil
	return err
}

// RedisWithFaults starts a Redis for this test alone, a container when a Docker
// engine answers, else a redis-server process, whose Stop, Start, Pause and Unpause
// work. Start keeps the address. t.Cleanup removes it. With only EnvRedisURL
// available the test skips (fails under CI).
func RedisWithFaults(t testing.TB) *RedisServer {
	t.Helper()
	kind, missing, err := pickRedisKind(os.Getenv(EnvRedisMode), true, redisAvailabilityFrom(os.Getenv))
	switch {
	case err != nil:
		t.Fatalf("redistest: %v", err)
	case missing != "":
		redisUnavailable(t, os.Getenv, missing)
	}
	return startDedicatedRedis(t, kind)
}

// startDedicatedRedis starts a server with fault controls of the given kind for t.
func startDedicatedRedis(t testing.TB, kind string) *RedisServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	srv, err := startRedis(ctx, kind, true, os.Getenv)
	t.Cleanup(func() {
		if err := srv.close(); err != nil {
			t.Errorf("redistest: remove %s: %v", srv, err)
		}
	})
	if err != nil {
		t.Fatalf("redistest: start redis (%s): %v", kind, err)
	}
	announceRedis(fmt.Sprintf("redistest: redis with fault controls via %s", srv))
	return srv
}

// EnvRedisReport names a file that gets one line per test process saying
// which Redis it used; make prints it, since go test hides the output of
// passing packages.
const EnvRedisReport = "ARQONBUS_TEST_REDIS_REPORT"

var announced sync.Map // message prefix → struct{}: one line per kind of use

// announceRedis prints line to stderr and appends it to the report file,
// once per process for each kind of use (shared, with faults).
func announceRedis(line string) {
	kind, _, _ := strings.Cut(line, " via ")
	if _, dup := announced.LoadOrStore(kind, struct{}{}); dup {
		return
	}
	fmt.Fprintln(os.Stderr, line)
	if path := os.Getenv(EnvRedisReport); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = fmt.Fprintln(f, line)
			_ = f.Close()
		}
	}
}

// RedisClient connects go-redis to srv (its URL, so database and password apply)
// with no retries and deadlines taken from the context, so that each call shows
// the server's state as it is: against a paused server a call fails when its
// context ends. t.Cleanup closes it.
func RedisClient(t testing.TB, srv *RedisServer) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	opt.Protocol = 2
	opt.DisableIdentity = true
	opt.MaxRetries = -1
	opt.DialTimeout = time.Second
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = 2
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RunMain runs the package's tests, removes the shared Redis, checks that no
// goroutine leaked (when the tests passed; opts as for goleak.Find) and exits with
// the tests' code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { redistest.RunMain(m) }
func RunMain(m *testing.M, opts ...goleak.Option) {
	redisRunMainActive.Store(true)
	code := m.Run()
	if err := stopSharedRedis(); err != nil {
		fmt.Fprintf(os.Stderr, "redistest: remove shared redis: %v\n", err)
		code = max(code, 1)
	}
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "redistest: goroutines leaked: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// redactRedisURL is the URL without its password, for messages.
func redactRedisURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return strings.Repeat("*", len(raw))
}
