package ws

import (
	"net"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An upgraded connection reads through a read buffer of readBufferSize
// bytes of its own, not the HTTP server's larger one, and the upgrader and
// the reader share it.
func TestAnUpgradedConnectionReadsThroughASmallBufferOfItsOwn(t *testing.T) {
	server, peer := net.Pipe()
	t.Cleanup(func() { _ = server.Close(); _ = peer.Close() })
	h := &hijackCapture{ResponseWriter: pipeHijacker{httptest.NewRecorder(), server}}
	_, brw, err := h.Hijack()
	require.NoError(t, err)
	assert.Equal(t, readBufferSize, h.br.Size())
	assert.Same(t, h.br, brw.Reader)
}
