package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// redisReadyTimeout bounds the wait for a started Redis to answer PING.
	redisReadyTimeout = 15 * time.Second
	// redisPingAttemptTimeout bounds the PING of one attempt inside that
	// wait, once its connection is up. The connection itself is bounded by
	// the whole wait: a Redis whose listen queue is full (a node under test
	// reconnecting in a storm) drops a SYN, which the kernel sends again
	// only after a second, so an attempt bounded by less could never connect.
	redisPingAttemptTimeout = 500 * time.Millisecond
	// redisPollInterval is the pause between two failed attempts.
	redisPollInterval = 20 * time.Millisecond
)

// errOneConn answers a second dial of a call's client: a call has one
// connection.
var errOneConn = errors.New("redistest: one connection per call")

// tcpOptions reaches a plain Redis on addr, as the harness starts them.
func tcpOptions(addr string) *redis.Options { return &redis.Options{Addr: addr} }

// call runs fn with a go-redis client on one connection that call dials
// itself, and closes both before it returns. go-redis dials on goroutines
// of its pool, retries failed dials in the background, and after failed
// dials keeps a goroutine probing the server for up to a second after
// Close; the harness polls servers that are down on purpose from packages
// whose TestMain fails on a leaked goroutine, so the client it uses never
// dials: its dialer hands over the connection dialled here, once. No
// command is retried; ctx bounds the whole call.
func call(ctx context.Context, opt *redis.Options, fn func(ctx context.Context, c *redis.Client) error) error {
	network := opt.Network
	if network == "" {
		network = "tcp"
	}
	d := &net.Dialer{}
	var nc net.Conn
	var err error
	switch {
	case opt.Dialer != nil: // a test's own way to connect
		nc, err = opt.Dialer(ctx, network, opt.Addr)
	case opt.TLSConfig != nil:
		nc, err = (&tls.Dialer{NetDialer: d, Config: opt.TLSConfig}).DialContext(ctx, network, opt.Addr)
	default:
		nc, err = d.DialContext(ctx, network, opt.Addr)
	}
	if err != nil {
		return err
	}
	var once atomic.Pointer[net.Conn]
	once.Store(&nc)
	defer func() {
		if p := once.Swap(nil); p != nil { // never handed over
			_ = (*p).Close()
		}
	}()
	o := *opt
	o.Dialer = func(context.Context, string, string) (net.Conn, error) {
		if p := once.Swap(nil); p != nil {
			return *p, nil
		}
		return nil, errOneConn
	}
	o.Protocol = 2           // no HELLO: any server version answers
	o.DisableIdentity = true // no CLIENT SETINFO either
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.PoolSize = 1 << 20 // never reached: no background dial probe
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(&o)
	defer c.Close()
	return fn(ctx, c)
}

// transient reports whether an error reply may change soon (the server is
// loading its data, busy with a script, or its primary is away); a wrong
// password is not.
func transient(err error) bool {
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// WaitReady returns once the Redis opt names answers PING, or fails after
// the readiness bound (15 s) or when ctx ends. opt.Dialer, when set, makes
// each connection instead of a plain dial of opt.Addr.
func WaitReady(ctx context.Context, opt *redis.Options) error { return waitReady(ctx, opt, nil) }

// waitReady PINGs until Redis answers, ctx ends or exited is closed (the
// server process is gone, so waiting longer is pointless).
func waitReady(ctx context.Context, opt *redis.Options, exited <-chan struct{}) error {
	// The wait has a budget of its own: an engine call before it (start,
	// unpause) that was slow must not leave it no time.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisReadyTimeout)
	defer cancel()
	start := time.Now()
	var last error
	for {
		err := call(ctx, opt, func(ctx context.Context, c *redis.Client) error {
			attempt, cancel := context.WithTimeout(ctx, redisPingAttemptTimeout)
			defer cancel()
			return c.Ping(attempt).Err()
		})
		if err == nil {
			return nil
		}
		last = err
		var reply redis.Error
		if errors.As(err, &reply) && !transient(err) {
			return fmt.Errorf("redis at %s: %w", opt.Addr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s not ready after %s: %w (last error: %v)", opt.Addr, time.Since(start).Round(time.Millisecond), ctx.Err(), last)
		case <-exited:
			return fmt.Errorf("redis at %s exited before it was ready (last error: %v)", opt.Addr, last)
		case <-time.After(redisPollInterval):
		}
	}
}

// deleteByPrefix removes every key starting with prefix (which holds no glob
// characters) with SCAN and UNLINK.
func deleteByPrefix(ctx context.Context, opt *redis.Options, prefix string) error {
	return call(ctx, opt, func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			if len(keys) > 0 {
				if err := c.Unlink(ctx, keys...).Err(); err != nil {
					return fmt.Errorf("unlink: %w", err)
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
}
