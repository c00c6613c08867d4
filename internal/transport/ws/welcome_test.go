package ws

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// gatePresence holds Connected until the test releases it.
type gatePresence struct {
	entered chan string
	release chan struct{}
}

func (p *gatePresence) Connected(_, id string) {
	p.entered <- id
	<-p.release
}

func (p *gatePresence) Disconnected(string, string) {}

// The welcome tells a client its id, and whoever learns that id may send it
// a direct message at once: so the client must be reachable (in the hub,
// and announced to the other nodes) before its welcome goes out. The
// welcome used to be queued first, and a direct message sent the moment it
// arrived could find no such client (NOT_FOUND).
func TestTheWelcomeGoesOutOnlyOnceTheClientCanBeAddressed(t *testing.T) {
	p := &gatePresence{entered: make(chan string, 1), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(p.release) }) }
	t.Cleanup(release)
	o := testOptions(func(o *Options) { o.Presence = p })
	hs := httptest.NewServer(NewServer(o))
	t.Cleanup(hs.Close)

	nc, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	_, err = nc.Write([]byte("GET / HTTP/1.1\r\nHost: " + strings.TrimPrefix(hs.URL, "http://") + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	status, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "101")
	for line := ""; line != "\r\n"; {
		line, err = br.ReadString('\n')
		require.NoError(t, err)
	}

	var id string
	select {
	case id = <-p.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never announced the connection")
	}
	assert.True(t, o.Hub.HasClient("", id), "the client is in the hub before it is announced")

	// While the announcement is under way the client has no welcome yet.
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = br.Peek(1)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "no byte before the announcement is done, got %v", err)

	// Then the welcome arrives (the connection was alive all along).
	release()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	var h [2]byte
	_, err = io.ReadFull(br, h[:])
	require.NoError(t, err)
	require.Equal(t, byte(finBit|opText), h[0], "a text frame")
	n := int(h[1] & 0x7F)
	if n == 126 {
		var ext [2]byte
		_, err = io.ReadFull(br, ext[:])
		require.NoError(t, err)
		n = int(binary.BigEndian.Uint16(ext[:]))
	}
	require.Less(t, n, 1<<16, "the welcome is a small frame")
	payload := make([]byte, n)
	_, err = io.ReadFull(br, payload)
	require.NoError(t, err)
	env, err := protocol.Decode(payload, protocol.Limits{MaxDepth: 32, ServerFrames: true})
	require.NoError(t, err, "%s", payload)
	assert.Contains(t, string(env.Payload), id, "the welcome names the client")
}
