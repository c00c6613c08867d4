package client

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveFrames starts a server that sends a welcome, then frames, then waits
// for the client to close.
func serveFrames(t *testing.T, frames ...[]byte) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		frames = append([][]byte{protocol.Encode(protocol.Welcome("c1", time.Now()))}, frames...)
		for _, f := range frames {
			if ws.WriteMessage(websocket.TextMessage, f) != nil {
				return
			}
		}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// The reader reuses one buffer for frames an OnFrame handler consumes, so each
// frame must arrive whole and unchanged whatever size came before it: larger
// than the kept buffer, smaller, and empty.
func TestOnFrameSeesEveryFrameWholeAcrossBufferReuse(t *testing.T) {
	frames := [][]byte{
		[]byte(`{"a":"` + strings.Repeat("x", 100) + `"}`),
		bytes.Repeat([]byte("y"), maxKeptFrameBuffer+1000), // a buffer of its own, then dropped
		[]byte(`{"b":1}`),
		bytes.Repeat([]byte("z"), 5000), // grows the kept buffer
		{},
		[]byte(`{"c":2}`),
	}
	var mu sync.Mutex
	var got [][]byte
	all := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, serveFrames(t, frames...), Options{OnFrame: func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, bytes.Clone(b))
		if len(got) == len(frames) {
			close(all)
		}
	}})
	require.NoError(t, err)
	defer c.Close()
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatal("not every frame arrived")
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range frames {
		require.Equal(t, frames[i], got[i], "frame %d", i)
	}
}

// An undecodable frame is queued with its bytes; those must be its own, not
// the read buffer that the next frame overwrites.
func TestUndecodableFrameKeepsItsOwnBytes(t *testing.T) {
	bad := []byte(`{"not an envelope`)
	next := []byte(strings.Repeat("q", len(bad)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, serveFrames(t, bad, next), Options{})
	require.NoError(t, err)
	defer c.Close()
	first, err := c.Recv(ctx)
	require.NoError(t, err)
	second, err := c.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "undecodable", first.Type)
	require.Equal(t, "undecodable", second.Type)
	require.Equal(t, string(bad), string(first.Payload))
	require.Equal(t, string(next), string(second.Payload))
}

// serveSilent starts a server that upgrades, sends the welcome when asked,
// then neither reads nor writes until the test ends: it never answers a
// close frame.
func serveSilent(t *testing.T, welcome bool) string {
	t.Helper()
	up := websocket.Upgrader{}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if welcome && ws.WriteMessage(websocket.TextMessage, protocol.Encode(protocol.Welcome("c1", time.Now()))) != nil {
			return
		}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handler returns, then the server closes
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// Once nobody drains the delivery queue (a CLI stopped by Ctrl-C), the
// reader used to wait for room in it forever, so it never read the server's
// close reply queued behind the deliveries, and Close, which waits for the
// reader, never returned. The reader now drops deliveries once Close began.
func TestCloseReturnsWhileTheDeliveryQueueIsFull(t *testing.T) {
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = []byte(`{"type":"message","room":"r","channel":"c","payload":{}}`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, serveFrames(t, frames...), Options{IncomingBuffer: 2})
	require.NoError(t, err)
	for len(c.incoming) < cap(c.incoming) { // the reader now waits for room
		select {
		case <-ctx.Done():
			t.Fatal("the delivery queue never filled")
		case <-time.After(5 * time.Millisecond):
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with the delivery queue full")
	}
}

// CloseWithin bounds the whole close, so a server that never answers the
// close frame costs the caller d, not more.
func TestCloseWithinReturnsInItsBoundWhenTheServerIsSilent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, serveSilent(t, true), Options{})
	require.NoError(t, err)
	const bound = 100 * time.Millisecond
	began := time.Now()
	require.NoError(t, c.CloseWithin(bound))
	took := time.Since(began)
	require.GreaterOrEqual(t, took, bound, "it waited for the close reply")
	require.Less(t, took, bound+400*time.Millisecond, "it stopped waiting at the bound")
}

// Dial waited for the welcome until the context's deadline (or 10 s without
// one) even after the context was canceled, so Ctrl-C during the welcome
// from a peer that upgrades but never greets did nothing. Cancellation now
// ends the wait at once.
func TestDialStopsWaitingForTheWelcomeWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	began := time.Now()
	c, err := Dial(ctx, serveSilent(t, false), Options{})
	if err == nil {
		_ = c.Close()
	}
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(began), 2*time.Second, "the wait ended with the cancellation")
}

// serveReplies starts a server that sends a welcome, then answers every
// frame it reads with answer(frame).
func serveReplies(t *testing.T, answer func(frame map[string]any) []byte) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if ws.WriteMessage(websocket.TextMessage, protocol.Encode(protocol.Welcome("c1", time.Now()))) != nil {
			return
		}
		for {
			var frame map[string]any
			if ws.ReadJSON(&frame) != nil {
				return
			}
			if ws.WriteMessage(websocket.TextMessage, answer(frame)) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// A message_response names the frame it answers by its id; a server may set
// request_id to something else (a worker's task completion is answered with
// request_id naming the task). The reply still reaches its request.
func TestAMessageResponseReachesTheRequestNamedByItsID(t *testing.T) {
	url := serveReplies(t, func(frame map[string]any) []byte {
		return []byte(`{"type":"message_response","id":"` + frame["id"].(string) +
			`","request_id":"task_0123456789abcdef0123456789abcdef","status":"success","payload":{"state":"done"}}`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, Options{})
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Request(ctx, &protocol.Envelope{Type: protocol.TypeResponse, RequestID: "task_0123456789abcdef0123456789abcdef",
		Status: protocol.StatusSuccess, Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.Equal(t, protocol.TypeMessageResponse, r.Type)
	require.JSONEq(t, `{"state":"done"}`, string(r.Payload))
	select {
	case env := <-c.incoming:
		t.Fatalf("the reply was also queued as a delivery: %+v", env)
	default:
	}
}
