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

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// SPEC §2: a browser origin not in ARQONBUS_ALLOWED_ORIGINS is refused with
// HTTP 403 at the handshake, however close it looks to an allowed one.
func TestHostileOriginsAreRefusedWith403(t *testing.T) {
	s := start(t, func(c *config.Config) { c.AllowedOrigins = []string{"https://app.example"} })
	by := newBystander(t, s)
	for _, origin := range []string{
		"https://evil.example",
		"https://app.example.evil.example",
		"https://evil.example/https://app.example",
		"https://app.example:8443",
		"http://app.example",
		"null",
		"file://",
		"https://app.example@evil.example",
		"http://" + s.Addr() + ".evil.example",
	} {
		_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Header: http.Header{"Origin": {origin}}})
		var he *client.HandshakeError
		if assert.ErrorAs(t, err, &he, "origin %s", origin) {
			assert.Equal(t, http.StatusForbidden, he.Status, "origin %s", origin)
		}
	}
	for _, origin := range []string{"https://app.example", "HTTPS://APP.EXAMPLE", "http://" + s.Addr()} {
		c := testutil.Dial(t, s, client.Options{Header: http.Header{"Origin": {origin}}})
		assertStillOpen(t, c)
	}
	assert.EqualValues(t, 9, s.Counter(t, "connections_rejected_total", "origin"))
	by.stillServed(t)
}

// Broken upgrade requests are answered with an HTTP error and never keep a
// connection slot: with the cap nearly full, a stream of them leaves room
// for the next real client.
func TestBrokenUpgradeRequestsNeverUseUpConnectionSlots(t *testing.T) {
	s := start(t, func(c *config.Config) { c.MaxConnections = 3 })
	by := newBystander(t, s)
	good := testutil.UpgradeRequest(s)
	broken := map[string]string{
		"no key":           strings.Replace(good, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1),
		"a short key":      strings.Replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1),
		"version 8":        strings.Replace(good, "Version: 13", "Version: 8", 1),
		"no version":       strings.Replace(good, "Sec-WebSocket-Version: 13\r\n", "", 1),
		"a POST":           strings.Replace(good, "GET ", "POST ", 1),
		"no upgrade token": strings.Replace(good, "Upgrade: websocket\r\n", "", 1),
	}
	for round := range 5 {
		for name, req := range broken {
			nc := testutil.DialTCP(t, s)
			require.NoError(t, nc.SetDeadline(time.Now().Add(testutil.Timeout)))
			_, err := io.WriteString(nc, req)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			require.NoError(t, err, "%s (round %d)", name, round)
			_ = resp.Body.Close()
			assert.GreaterOrEqual(t, resp.StatusCode, 400, "%s is refused", name)
			assert.Less(t, resp.StatusCode, 500, "%s is a client error", name)
			_ = nc.Close()
		}
	}
	c := testutil.Dial(t, s) // the third and last slot
	assertStillOpen(t, c)
	by.stillServed(t)
}
