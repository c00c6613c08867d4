package regression

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// TestRegression_TheSameOriginCheckNoLongerTrustsTheHostHeader: with
// ARQONBUS_ALLOWED_ORIGINS empty, "same origin" meant an Origin whose
// host:port equalled the Host header. A page on evil.example whose name was
// rebound to the bus's address (DNS rebinding) sends Host and Origin that
// agree, so it upgraded, as did an Origin on the right host with the wrong
// scheme. The bus's own origin is now the listener address the connection
// arrived on, with its scheme, whatever the Host says; clients without an
// Origin header connect as before.
func TestRegression_TheSameOriginCheckNoLongerTrustsTheHostHeader(t *testing.T) {
	s := testutil.StartServer(t)
	_, port, found := strings.Cut(s.Addr(), ":")
	require.True(t, found, "the listener address has a port: %s", s.Addr())
	rebound := "evil.example:" + port
	for _, origin := range []string{"http://" + rebound, "https://" + rebound} {
		_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Header: http.Header{"Host": {rebound}, "Origin": {origin}}})
		var he *client.HandshakeError
		if assert.ErrorAs(t, err, &he, origin) {
			assert.Equal(t, http.StatusForbidden, he.Status, origin)
		}
	}
	_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Header: http.Header{"Origin": {"https://" + s.Addr()}}})
	var he *client.HandshakeError
	if assert.ErrorAs(t, err, &he, "the bus's address over https") {
		assert.Equal(t, http.StatusForbidden, he.Status)
	}
	assert.EqualValues(t, 3, s.Counter(t, "connections_rejected_total", "origin"))

	for _, h := range []http.Header{
		{"Host": {rebound}},
		{"Host": {rebound}, "Origin": {"http://" + s.Addr()}},
	} {
		c := testutil.Dial(t, s, client.Options{Header: h})
		testutil.Join(t, c, "r", "c")
	}
}
