package regression

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The Python verifier treated exp as optional, so a token minted without
// one (or leaked) authenticated forever. Now exp is required: a token
// without it is refused at the handshake with 401 "Invalid token", and the
// reason is counted as missing_exp (SPEC §5).
func TestRegression_TokensWithoutExpAreRefused(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret))
	claims := testutil.Claims("alice", "acme", "user")
	testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, claims)}) // control: with exp it works

	for name, without := range map[string]func(c map[string]any){
		"absent": func(c map[string]any) { delete(c, "exp") },
		"null":   func(c map[string]any) { c["exp"] = nil },
	} {
		c := testutil.Claims("alice", "acme", "user")
		without(c)
		he := refusedHandshake(t, s, testutil.Token(t, secret, c))
		assert.Equal(t, http.StatusUnauthorized, he.Status, "exp %s", name)
		assert.JSONEq(t, `{"error":"Unauthorized","details":"Invalid token"}`, he.Body, "exp %s", name)
		assert.Equal(t, `Bearer realm="arqonbus"`, he.Headers.Get("WWW-Authenticate"), "exp %s", name)
	}
	assert.GreaterOrEqual(t, s.Counter(t, "auth_failures_total", auth.ReasonMissingExp), 1.0,
		"the refusal is counted as missing_exp")
}

// The Python verifier compared the header's alg case-insensitively, so
// "hs256" passed an HS256 allow-list and the allow-list was not the exact
// contract operators wrote. Now alg must match an allowed name exactly:
// "hs256" is refused (bad_algorithm), and an allow-list written in the
// wrong case is a startup error naming the variable (SPEC §5, §6).
func TestRegression_AlgorithmNamesAreNotCaseFolded(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret))
	claims := testutil.Claims("alice", "acme", "user")
	// Control: the hand-made token with the exact name is accepted, so the
	// refusals below are about the name alone.
	testutil.Dial(t, s, client.Options{Token: signHS256(t, secret, map[string]any{"alg": "HS256", "typ": "JWT"}, claims)})

	for _, alg := range []string{"hs256", "Hs256", "hS256"} {
		// The metric counts it as invalid_token (it tells no forger which
		// check failed); the log says bad_algorithm.
		before := s.Counter(t, "auth_failures_total", auth.LabelInvalidToken)
		he := refusedHandshake(t, s, signHS256(t, secret, map[string]any{"alg": alg, "typ": "JWT"}, claims))
		assert.Equal(t, http.StatusUnauthorized, he.Status, "alg %q", alg)
		assert.Equal(t, before+1, s.Counter(t, "auth_failures_total", auth.LabelInvalidToken), "alg %q is refused before its signature", alg)
	}
	assert.True(t, s.Logs.Contains("reason="+auth.ReasonBadAlgorithm), "the log names the bad algorithm")

	code, _, stderr := runApp(t, []string{"ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_SECRET=" + secret,
		"ARQONBUS_AUTH_JWT_ALGORITHMS=hs256"}, "config", "print")
	assert.Equal(t, 2, code, "stderr:\n%s", stderr)
	assert.Contains(t, stderr, "ARQONBUS_AUTH_JWT_ALGORITHMS")
	assert.Contains(t, stderr, "HS256", "the message suggests the exact name")
}

// Connections outlived their tokens in the Python server: expiry was never
// enforced on an open connection, so a short-lived credential kept its
// socket for as long as the client liked. Now a connection is closed with 4001 when its token
// expires (exp plus the leeway, here ARQONBUS_AUTH_LEEWAY=0s), and not
// before; other connections are untouched (SPEC §2, §5).
func TestRegression_ConnectionsCloseWith4001WhenTheirTokenExpires(t *testing.T) {
	s := testutil.StartServer(t, fromEnviron(t, "ARQONBUS_ENABLE_AUTH=true",
		"ARQONBUS_AUTH_JWT_SECRET="+secret, "ARQONBUS_AUTH_LEEWAY=0s"))
	require.Zero(t, s.Config.AuthLeeway)

	longLived := testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, testutil.Claims("bob", "", "user"))})
	claims := testutil.Claims("alice", "", "user")
	expAt := time.Unix(time.Now().Add(3*time.Second).Unix(), 0) // 2-3 s ahead, whole seconds as in JWT
	claims["exp"] = expAt.Unix()
	short := testutil.Dial(t, s, client.Options{Token: testutil.Token(t, secret, claims)})
	testutil.Command(t, short, "ping", nil) // usable until it expires

	code := testutil.ExpectClose(t, short, 5*time.Second)
	closedAt := time.Now()
	assert.Equal(t, protocol.CloseTokenExpired, code, "closed with 4001")
	assert.False(t, closedAt.Before(expAt), "closed at %s, before the token expired at %s", closedAt, expAt)
	_, reason := short.CloseCode()
	assert.True(t, strings.Contains(reason, "expired"), "close reason %q", reason)

	data := testutil.Command(t, longLived, "ping", nil)
	assert.Equal(t, true, data["pong"], "a connection with a valid token stays open")
}
