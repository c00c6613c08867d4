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
