package testutil

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The harness speaks just enough RESP to check readiness and delete test keys. A
// client library would bring pools and background goroutines into every package
// that uses the harness; one short-lived connection per call brings none.

const (
	// redisReadyTimeout bounds the wait for a started Redis to answer PING.
	redisReadyTimeout = 15 * time.Second
	// redisPingAttemptTimeout bounds one PING attempt inside that wait.
	redisPingAttemptTimeout = 500 * time.Millisecond
	// redisPollInterval is the pause between two failed attempts.
	redisPollInterval = 20 * time.Millisecond
)

// respTarget is where and how to reach one Redis.
type respTarget struct {
	network  string // "tcp" or "unix"
	addr     string
	username string
	password string
	db       int
	tls      *tls.Config
}

// respTCP is a plain Redis on addr, as the harness starts them.
func respTCP(addr string) respTarget { return respTarget{network: "tcp", addr: addr} }

// respURL parses a redis://, rediss:// or unix:// URL.
func respURL(rawURL string) (respTarget, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return respTarget{}, err
	}
	network := opt.Network
	if network == "" {
		network = "tcp"
	}
	return respTarget{
		network:  network,
		addr:     opt.Addr,
		username: opt.Username,
		password: opt.Password,
		db:       opt.DB,
		tls:      opt.TLSConfig,
	}, nil
}

// respError is an error reply from Redis.
type respError string

func (e respError) Error() string { return "redis: " + string(e) }

// transient reports whether the server may answer differently soon (it is loading
// its data, busy with a script, or its primary is away); a wrong password is not.
func (e respError) transient() bool {
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"} {
		if strings.HasPrefix(string(e), p) {
			return true
		}
	}
	return false
}

// do opens one connection, authenticates and selects the database when needed, sends
// cmds in order and returns the last reply. ctx bounds the whole exchange.
func (rt respTarget) do(ctx context.Context, cmds ...[]string) (any, error) {
	d := net.Dialer{}
	var conn net.Conn
	var err error
	if rt.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: rt.tls}).DialContext(ctx, rt.network, rt.addr)
	} else {
		conn, err = d.DialContext(ctx, rt.network, rt.addr)
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	// Unblock the reads below if ctx ends without a deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var pre [][]string
	switch {
	case rt.username != "":
		pre = append(pre, []string{"AUTH", rt.username, rt.password})
	case rt.password != "":
		pre = append(pre, []string{"AUTH", rt.password})
	}
	if rt.db != 0 {
		pre = append(pre, []string{"SELECT", strconv.Itoa(rt.db)})
	}
	all := append(pre, cmds...)

	w := bufio.NewWriter(conn)
	for _, c := range all {
		respWrite(w, c)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	var last any
	for i, c := range all {
		v, err := respRead(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.ToLower(c[0]), err)
		}
		if re, ok := v.(respError); ok {
			return nil, fmt.Errorf("%s: %w", strings.ToLower(c[0]), re)
		}
		if i == len(all)-1 {
			last = v
		}
	}
	return last, nil
}

func respWrite(w *bufio.Writer, args []string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// respRead reads one RESP2 reply: string, respError, int64, nil or []any.
func respRead(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = respRead(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unexpected reply %q", line)
	}
}

// ping sends one PING and wants PONG.
func (rt respTarget) ping(ctx context.Context) error {
	v, err := rt.do(ctx, []string{"PING"})
	if err != nil {
		return err
	}
	if v != "PONG" {
		return fmt.Errorf("ping: unexpected reply %v", v)
	}
	return nil
}

// waitReady PINGs until Redis answers, ctx ends or exited is closed (the server
// process is gone, so waiting longer is pointless).
func (rt respTarget) waitReady(ctx context.Context, exited <-chan struct{}) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, redisPingAttemptTimeout)
		err := rt.ping(attempt)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		var re respError
		if errors.As(err, &re) && !re.transient() {
			return fmt.Errorf("redis at %s: %w", rt.addr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s not ready: %w (last error: %v)", rt.addr, ctx.Err(), last)
		case <-exited:
			return fmt.Errorf("redis at %s exited before it was ready (last error: %v)", rt.addr, last)
		case <-time.After(redisPollInterval):
		}
	}
}

// deleteByPrefix removes every key starting with prefix (which holds no glob
// characters) with SCAN and UNLINK.
func (rt respTarget) deleteByPrefix(ctx context.Context, prefix string) error {
	cursor := "0"
	for {
		v, err := rt.do(ctx, []string{"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"})
		if err != nil {
			return err
		}
		page, ok := v.([]any)
		if !ok || len(page) != 2 {
			return fmt.Errorf("scan: unexpected reply %v", v)
		}
		cursor, _ = page[0].(string)
		keys, _ := page[1].([]any)
		if len(keys) > 0 {
			cmd := []string{"UNLINK"}
			for _, k := range keys {
				if s, ok := k.(string); ok {
					cmd = append(cmd, s)
				}
			}
			if _, err := rt.do(ctx, cmd); err != nil {
				return err
			}
		}
		if cursor == "0" || cursor == "" {
			return nil
		}
	}
}
