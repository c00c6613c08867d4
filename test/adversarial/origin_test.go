package adversarial

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §2: with ARQONBUS_ALLOWED_ORIGINS empty only the bus's own origin and
// non-browser clients connect. The Host header is the caller's to choose, so
// a page whose name was rebound to the bus's address (DNS rebinding), a page
// on the right host with the wrong scheme, and origins no browser page can
// claim (null, malformed, a request without Host) are all refused with 403,
// while a non-browser client with the same forged Host still connects.
func TestOriginRebindingAndOpaqueOriginsAreRefusedWith403(t *testing.T) {
	s := start(t)
	by := newBystander(t, s)
	_, port, found := strings.Cut(s.Addr(), ":")
	require.True(t, found, "the listener address has a port: %s", s.Addr())
	evil := "evil.example:" + port
	for _, c := range []struct{ name, host, origins string }{
		{"a rebound name, the browser's Host and Origin agreeing", evil, "Origin: http://" + evil},
		{"a rebound name over https", evil, "Origin: https://" + evil},
		{"a rebound name with the default port", "evil.example", "Origin: http://evil.example"},
		{"the bus's address with the wrong scheme", s.Addr(), "Origin: https://" + s.Addr()},
		{"an opaque origin with an empty Host", "", "Origin: null"},
		{"an opaque origin", s.Addr(), "Origin: null"},
		{"an empty Origin header", s.Addr(), "Origin: "},
		{"an origin with a path", s.Addr(), "Origin: http://" + s.Addr() + "/app"},
		{"an origin with credentials", s.Addr(), "Origin: http://user@" + s.Addr()},
		{"two Origin headers", s.Addr(), "Origin: http://" + s.Addr() + "\r\nOrigin: http://" + evil},
	} {
		assert.Equal(t, http.StatusForbidden, handshakeStatus(t, s, c.host, c.origins), c.name)
	}
	assert.EqualValues(t, 10, s.Counter(t, "connections_rejected_total", "origin"))

	// The same forged Host without an Origin is a non-browser client, and
	// the bus's own origin is a page of the bus: both still connect.
	assert.Equal(t, http.StatusSwitchingProtocols, handshakeStatus(t, s, evil, ""), "a non-browser client")
	assert.Equal(t, http.StatusSwitchingProtocols, handshakeStatus(t, s, evil, "Origin: http://"+s.Addr()), "the bus's own origin")
	assert.EqualValues(t, 10, s.Counter(t, "connections_rejected_total", "origin"), "no further refusal")
	by.stillServed(t)
}

// handshakeStatus sends an upgrade request to s with the given Host value
// and extra header lines (none when empty) and returns the response status.
func handshakeStatus(t *testing.T, s *testutil.Server, host, extra string) int {
	t.Helper()
	req := strings.Replace(testutil.UpgradeRequest(s), "Host: "+s.Addr()+"\r\n", "Host: "+host+"\r\n", 1)
	if extra != "" {
		req = strings.Replace(req, "\r\n\r\n", "\r\n"+extra+"\r\n\r\n", 1)
	}
	nc := testutil.DialTCP(t, s)
	defer func() { _ = nc.Close() }()
	require.NoError(t, nc.SetDeadline(time.Now().Add(testutil.Timeout)))
	_, err := io.WriteString(nc, req)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}
