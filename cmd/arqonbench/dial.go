package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/client"
)

// dialTimeout bounds one TCP connect plus WebSocket handshake.
const dialTimeout = 10 * time.Second

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit and returns
// the limit in force.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return lim.Cur, nil
}

// dialer opens bench connections: source addresses cycle over
// 127.0.0.1..127.0.0.N (each source has its own ephemeral port range), and
// transient failures are retried with a growing pause.
type dialer struct {
	url     string
	token   string
	sources int // 0: the kernel picks the source address
	retries int
	readBuf int // bytes of the socket read buffer per connection
	next    atomic.Uint32
	pool    sync.Pool // write buffers, shared: receivers rarely write
}

// netDialer is the TCP dialer of the next connection: its source address
// is the next one of the cycle.
func (d *dialer) netDialer() (*net.Dialer, string) {
	nd := &net.Dialer{Timeout: dialTimeout}
	if d.sources == 0 {
		return nd, "tcp"
	}
	n := (d.next.Add(1) - 1) % uint32(d.sources)
	nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n+1))}
	return nd, "tcp4"
}

func (d *dialer) wsDialer() *websocket.Dialer {
	nd, network := d.netDialer()
	return &websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, network, addr)
		},
		HandshakeTimeout: dialTimeout,
		ReadBufferSize:   d.readBuf,
		WriteBufferSize:  4096,
		WriteBufferPool:  &d.pool,
	}
}

// dial opens one connection; onFrame receives every frame that is not a
// reply to a request.
func (d *dialer) dial(ctx context.Context, onFrame func([]byte)) (*client.Client, error) {
	var c *client.Client
	err := d.retry(ctx, func() (err error) {
		c, err = client.Dial(ctx, d.url, client.Options{
			Token: d.token, OnFrame: onFrame, IncomingBuffer: 1, Dialer: d.wsDialer(),
		})
		return err
	})
	return c, err
}

// dialTCP opens one plain TCP connection to addr (the floor workload).
func (d *dialer) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := d.retry(ctx, func() (err error) {
		nd, network := d.netDialer()
		c, err = nd.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// retry runs attempt until it succeeds, fails for good, or d.retries more
// attempts have failed, pausing longer after each failure.
func (d *dialer) retry(ctx context.Context, attempt func() error) error {
	pause := 50 * time.Millisecond
	for n := 0; ; n++ {
		err := attempt()
		if err == nil || n >= d.retries || !transient(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		pause = min(2*pause, time.Second)
	}
}

// transient tells failures worth another attempt (refused or reset
// connections, timeouts, a full server) from final ones (auth, origin).
func transient(err error) bool {
	var he *client.HandshakeError
	if errors.As(err, &he) {
		return he.Status == http.StatusServiceUnavailable || he.Status == http.StatusTooManyRequests ||
			he.Status >= 500
	}
	return true
}

// connectAll opens n connections, at most concurrency attempts at a time,
// and runs setup (a join) on each. It stops at the first failure and
// returns the connections it opened (nil where none) with that failure.
func connectAll(ctx context.Context, d *dialer, n, concurrency int, onFrame func(i int) func([]byte),
	setup func(ctx context.Context, i int, c *client.Client) error) ([]*client.Client, error) {
	conns := make([]*client.Client, n)
	err := forEach(ctx, n, concurrency, func(ctx context.Context, i int) error {
		var f func([]byte)
		if onFrame != nil {
			f = onFrame(i)
		}
		c, err := d.dial(ctx, f)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = c
		if setup != nil {
			if err := setup(ctx, i, c); err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
		}
		return nil
	})
	return conns, err
}

// forEach runs f for i in 0..n-1, at most concurrency calls at a time. At
// the first failure it starts no more calls and cancels the context of the
// ones in flight; it returns that failure, or ctx's error if ctx ended.
func forEach(ctx context.Context, n, concurrency int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, concurrency)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// closeAll closes every open connection, concurrency at a time, and waits
// until their reader goroutines have ended (after which their receive state
// may be read without locks).
func closeAll(conns []*client.Client, concurrency int) {
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = c.Close()
		}()
	}
	wg.Wait()
}

// disconnects counts connections that ended before closeAll, by close code
// ("none" when the socket ended without a close frame), under prefix.
func disconnects(conns []*client.Client, prefix string, into map[string]int) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			code, _ := c.CloseCode()
			key := "none"
			if code != 0 {
				key = fmt.Sprint(code)
			}
			into[prefix+key]++
		default:
		}
	}
}
