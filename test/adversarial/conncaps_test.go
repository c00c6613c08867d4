package adversarial

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// capped runs a server with auth on, a global cap of 50 and the given
// tenant and subject caps.
func capped(t *testing.T, perTenant, perSubject int) *testutil.Server {
	t.Helper()
	return testutil.StartServer(t, testutil.WithAuth(tokenSecret), testutil.WithConfig(func(c *config.Config) {
		c.MaxConnections, c.MaxConnectionsPerTenant, c.MaxConnectionsPerSubject = 50, perTenant, perSubject
	}))
}

// dialCapped connects as sub of tenant with role, or returns the handshake
// refusal.
func dialCapped(t *testing.T, s *testutil.Server, sub, tenant, role string) (*client.Client, *client.HandshakeError) {
	t.Helper()
	c, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: testutil.Token(t, tokenSecret, testutil.Claims(sub, tenant, role))})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
		return c, nil
	}
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	return nil, he
}

// fillUntilRefused opens connections with next until one is refused, and
// returns the open ones and the refusal.
func fillUntilRefused(t *testing.T, s *testutil.Server, next func(i int) (*client.Client, *client.HandshakeError)) ([]*client.Client, *client.HandshakeError) {
	t.Helper()
	var open []*client.Client
	for i := range 60 {
		c, he := next(i)
		if he != nil {
			return open, he
		}
		open = append(open, c)
	}
	t.Fatal("60 connections and no refusal")
	return nil, nil
}

// assertCapRefusal checks a 503 whose body names the variable.
func assertCapRefusal(t *testing.T, he *client.HandshakeError, variable string) {
	t.Helper()
	assert.Equal(t, http.StatusServiceUnavailable, he.Status)
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(he.Body), &body), he.Body)
	assert.Equal(t, "Service Unavailable", body["error"])
	assert.Contains(t, body["details"], variable)
}

// provesLive has a tenant's admin join, and another of its members publish
// to it: the welcome, the ack and the delivery show the tenant is served.
func provesLive(t *testing.T, admin, member *client.Client) {
	t.Helper()
	testutil.Join(t, admin, "ops", "alerts")
	ack := testutil.Publish(t, member, "ops", "alerts", map[string]any{"ok": true})
	assert.Equal(t, 1, ack.Delivered)
	got := testutil.Expect(t, admin)
	assert.JSONEq(t, `{"ok":true}`, string(got.Payload))
}

// The attack: tenant A's guests open connections until the node refuses
// them. Without a tenant cap they took all 50 places and tenant B's admin
// got 503. With ARQONBUS_MAX_CONNECTIONS_PER_TENANT=10 A stops at 10
// (503, tenant_cap) and B's admin and user still connect and are served.
func TestOneTenantCannotTakeEveryConnection(t *testing.T) {
	s := capped(t, 10, 0)
	open, he := fillUntilRefused(t, s, func(i int) (*client.Client, *client.HandshakeError) {
		return dialCapped(t, s, "guest-"+strconv.Itoa(i), "tenant-a", "guest")
	})
	assert.Len(t, open, 10, "tenant A gets exactly its cap")
	assertCapRefusal(t, he, "ARQONBUS_MAX_CONNECTIONS_PER_TENANT")
	assert.Equal(t, 1.0, s.Counter(t, "connections_rejected_total", "tenant_cap"))
	assert.Zero(t, s.Counter(t, "connections_rejected_total", "capacity"), "the node was never full")

	admin, he := dialCapped(t, s, "boss", "tenant-b", "admin")
	require.Nil(t, he, "tenant B's admin connects while A is at its cap")
	member, he := dialCapped(t, s, "worker", "tenant-b", "user")
	require.Nil(t, he)
	provesLive(t, admin, member)

	// The cap counts open connections: one of A's closes, one more gets in.
	require.NoError(t, open[0].Close())
	connectionsBack(t, s, 11)
	_, he = dialCapped(t, s, "guest-late", "tenant-a", "guest")
	assert.Nil(t, he, "the place A gave back is A's again")
}

// The same attack from one subject: alice of tenant A opens connections
// until refused (subject_cap); bob of the same tenant still connects and is
// served.
func TestOneSubjectCannotTakeItsTenantsConnections(t *testing.T) {
	s := capped(t, 20, 4)
	open, he := fillUntilRefused(t, s, func(int) (*client.Client, *client.HandshakeError) {
		return dialCapped(t, s, "alice", "tenant-a", "user")
	})
	assert.Len(t, open, 4, "alice gets exactly the subject cap")
	assertCapRefusal(t, he, "ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT")
	assert.Equal(t, 1.0, s.Counter(t, "connections_rejected_total", "subject_cap"))

	admin, he := dialCapped(t, s, "bob", "tenant-a", "admin")
	require.Nil(t, he, "another subject of the same tenant connects")
	provesLive(t, admin, open[0])
}

// jwksOf writes a JWK set of Ed25519 public keys named by kid.
func jwksOf(t *testing.T, keys map[string]ed25519.PublicKey) string {
	t.Helper()
	var set []map[string]string
	for kid, pub := range keys {
		set = append(set, map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
			"x": base64.RawURLEncoding.EncodeToString(pub)})
	}
	b, err := json.Marshal(map[string]any{"keys": set})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// An unauthenticated /metrics used to tell a forger which check refused
// each token (bad_signature, unknown_kid, bad_algorithm, missing_kid…), so
// the configured kids and algorithms could be enumerated by forging. Every
// forgery refused before its signature is verified now counts only as
// invalid_token; the log keeps the precise reason for the operator, and a
// token signed with a real key still counts under its claim reason.
func TestForgedTokensShowOnlyInvalidTokenInTheMetrics(t *testing.T) {
	pub1, key1, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pub2, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s := start(t, func(c *config.Config) {
		c.EnableAuth, c.AuthJWKSFile, c.AuthJWTAlgorithms = true, jwksOf(t, map[string]ed25519.PublicKey{"k1": pub1, "k2": pub2}), []string{"EdDSA"}
	})
	sign := func(key ed25519.PrivateKey, header map[string]any, claims map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(claims))
		for k, v := range header {
			tok.Header[k] = v
		}
		out, err := tok.SignedString(key)
		require.NoError(t, err)
		return out
	}
	good := testutil.Claims("alice", "acme", "user")
	forgeries := map[string]string{
		"bad_signature":      sign(stranger, map[string]any{"kid": "k1"}, good),
		"unknown_kid":        sign(stranger, map[string]any{"kid": "k9"}, good),
		"missing_kid":        sign(stranger, nil, good),
		"bad_algorithm":      forge(map[string]any{"alg": "HS256", "kid": "k1"}, good, tokenSecret),
		"alg none":           forge(map[string]any{"alg": "none", "kid": "k1"}, good, tokenSecret),
		"malformed":          "not.a-token",
		"unsupported_header": sign(key1, map[string]any{"kid": "k1", "crit": []string{"x"}}, good),
	}
	const rounds = 5
	for range rounds {
		for name, token := range forgeries {
			_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: token})
			var he *client.HandshakeError
			require.ErrorAs(t, err, &he, name)
			assert.Equal(t, http.StatusUnauthorized, he.Status, name)
		}
	}
	expired := testutil.Claims("alice", "acme", "user")
	expired["exp"] = expired["iat"].(int64) - 3600
	_, err = client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: sign(key1, map[string]any{"kid": "k1"}, expired)})
	require.Error(t, err)

	code, body := s.Get(t, "/metrics")
	require.Equal(t, http.StatusOK, code)
	var series []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "arqonbus_auth_failures_total{") {
			series = append(series, line)
		}
	}
	assert.Contains(t, series, `arqonbus_auth_failures_total{reason="invalid_token"} `+strconv.Itoa(rounds*len(forgeries)))
	assert.Contains(t, series, `arqonbus_auth_failures_total{reason="expired"} 1`, "a claim reason needs a valid key and keeps its name")
	for _, precise := range []string{"bad_signature", "unknown_kid", "missing_kid", "bad_algorithm", "malformed", "unsupported_header", "too_large"} {
		assert.NotContains(t, body, `reason="`+precise+`"`, "the metrics never name %s", precise)
		if precise != "too_large" {
			assert.True(t, s.Logs.Contains("reason="+precise), "the log names %s for the operator", precise)
		}
	}

	// Control: the node was serving all along; a token of a real key gets in.
	testutil.Dial(t, s, client.Options{Token: sign(key1, map[string]any{"kid": "k1"}, good)})
}
