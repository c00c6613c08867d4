package testutil

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Timeout is the default wait for a frame in tests.
const Timeout = 5 * time.Second

// Dial connects a client to s and closes it when the test ends.
func Dial(t testing.TB, s *Server, o ...client.Options) *client.Client {
	t.Helper()
	return DialURL(t, s.URL, o...)
}

// DialURL connects a client to a WebSocket URL and closes it when the test
// ends.
func DialURL(t testing.TB, url string, o ...client.Options) *client.Client {
	t.Helper()
	var opts client.Options
	if len(o) > 0 {
		opts = o[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Ctx returns a context that ends after Timeout or with the test.
func Ctx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Join joins room:channel or fails the test.
func Join(t testing.TB, c *client.Client, room, channel string) {
	t.Helper()
	if err := c.Join(Ctx(t), room, channel); err != nil {
		t.Fatalf("join %s:%s: %v", room, channel, err)
	}
}

// Command runs a command and returns its data, failing on an error reply.
func Command(t testing.TB, c *client.Client, name string, args any) map[string]any {
	t.Helper()
	raw, err := c.Command(Ctx(t), name, args)
	if err != nil {
		t.Fatalf("command %s: %v", name, err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatalf("command %s: decode data: %v", name, err)
	}
	return data
}

// Request sends env and returns its one reply.
func Request(t testing.TB, c *client.Client, env *protocol.Envelope) *protocol.Envelope {
	t.Helper()
	r, err := c.Request(Ctx(t), env)
	if err != nil {
		t.Fatalf("request %s: %v", env.ID, err)
	}
	return r
}

// Publish sends a message and returns its ack, failing on an error reply.
func Publish(t testing.TB, c *client.Client, room, channel string, payload any) client.Ack {
	t.Helper()
	ack, err := c.Publish(Ctx(t), room, channel, payload)
	if err != nil {
		t.Fatalf("publish to %s:%s: %v", room, channel, err)
	}
	return ack
}

// Expect returns the next frame c receives, failing after Timeout.
func Expect(t testing.TB, c *client.Client) *protocol.Envelope {
	t.Helper()
	env, err := c.RecvTimeout(Timeout)
	if err != nil {
		t.Fatalf("expected a frame: %v", err)
	}
	return env
}

// ExpectNone fails unless c receives nothing for d and is still open when
// d has passed. A frame fails it, and so does the connection ending: a dead
// socket receives nothing, which proves nothing.
func ExpectNone(t testing.TB, c *client.Client, d time.Duration) {
	t.Helper()
	env, err := c.RecvTimeout(d)
	switch {
	case err == nil:
		t.Fatalf("expected no frame, got %s", protocol.Encode(env))
	case !errors.Is(err, context.DeadlineExceeded):
		code, text := c.CloseCode()
		t.Fatalf("expected a live connection to receive nothing for %s, but it ended: %v (close %d %q)", d, err, code, text)
	}
	select {
	case <-c.Done():
		code, text := c.CloseCode()
		t.Fatalf("expected a live connection to receive nothing for %s, but it ended as the wait ran out (close %d %q)", d, code, text)
	default:
	}
}

// ExpectClose waits for the connection to end and returns the close code the
// server sent (0 when the socket ended without one).
func ExpectClose(t testing.TB, c *client.Client, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(timeout):
		t.Fatalf("connection still open after %s", timeout)
	}
	code, _ := c.CloseCode()
	return code
}

// Payload decodes an envelope's payload into a map.
func Payload(t testing.TB, env *protocol.Envelope) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(env.Payload, &m); err != nil {
		t.Fatalf("decode payload %s: %v", env.Payload, err)
	}
	return m
}
