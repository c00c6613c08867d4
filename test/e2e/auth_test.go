//go:build e2e

package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The HMAC key (36 bytes: prod-grade) and the claims the auth server checks.
const (
	secret   = "e2e-hmac-secret-0123456789abcdefghij"
	issuer   = "https://issuer.e2e.example"
	audience = "arqonbus-e2e"
)

// authEnv is devEnv with HS256 authentication, issuer, audience and a
// required tenant, plus extra.
func authEnv(extra ...string) []string {
	return devEnv(append([]string{
		"ARQONBUS_ENABLE_AUTH=true",
		"ARQONBUS_AUTH_JWT_SECRET=" + secret,
		"ARQONBUS_AUTH_ISSUER=" + issuer,
		"ARQONBUS_AUTH_AUDIENCE=" + audience,
		"ARQONBUS_AUTH_REQUIRE_TENANT=true",
	}, extra...)...)
}

// claims is a claim set authEnv accepts.
func claims(sub, tenant, role string) map[string]any {
	c := testutil.Claims(sub, tenant, role)
	c["iss"], c["aud"] = issuer, audience
	return c
}

// token mints a token authEnv accepts.
func token(t *testing.T, sub, tenant, role string) string {
	t.Helper()
	return testutil.Token(t, secret, claims(sub, tenant, role))
}

// with returns c with the changes applied; a nil value deletes the claim.
func with(c map[string]any, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// handTokenHS256 builds an HS256-signed token with a header of our choosing,
// for headers the JWT library would not produce.
func handTokenHS256(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	c, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// assertUnauthorized checks the SPEC §2 refusal: 401, the JSON body with
// details, and the Bearer challenge.
func assertUnauthorized(t *testing.T, he *client.HandshakeError, details string) {
	t.Helper()
	assert.Equal(t, http.StatusUnauthorized, he.Status)
	assert.JSONEq(t, `{"error":"Unauthorized","details":"`+details+`"}`, he.Body)
	assert.Equal(t, `Bearer realm="arqonbus"`, he.Headers.Get("WWW-Authenticate"))
}

func TestTheHandshakeRefusesABadTokenWith401InvalidToken(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, authEnv())
	now := time.Now()
	cases := []struct {
		name  string
		token func(t *testing.T) string
	}{
		{"an expired token", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"),
				map[string]any{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-10 * time.Minute).Unix()}))
		}},
		{"a token not valid yet", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}))
		}},
		{"a token issued in the future", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"iat": now.Add(10 * time.Minute).Unix()}))
		}},
		{"a wrong issuer", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"iss": "https://evil.example"}))
		}},
		{"no issuer", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"iss": nil}))
		}},
		{"a wrong audience", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"aud": "someone-else"}))
		}},
		{"no audience", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"aud": nil}))
		}},
		{"a missing tenant", func(t *testing.T) string {
			return testutil.Token(t, secret, claims("alice", "", "user"))
		}},
		{"an empty tenant", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "", "user"), map[string]any{"tenant_id": ""}))
		}},
		{"no exp", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"exp": nil}))
		}},
		{"no subject", func(t *testing.T) string {
			return testutil.Token(t, secret, with(claims("alice", "acme", "user"), map[string]any{"sub": nil}))
		}},
		{"an unknown role", func(t *testing.T) string {
			return testutil.Token(t, secret, claims("alice", "acme", "root"))
		}},
		{"another secret", func(t *testing.T) string {
			return testutil.Token(t, "another-secret-of-enough-length-0123456", claims("alice", "acme", "user"))
		}},
		{"an algorithm outside the allow-list", func(t *testing.T) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims(claims("alice", "acme", "user"))).SignedString([]byte(secret))
			require.NoError(t, err)
			return tok
		}},
		{"alg in another case", func(t *testing.T) string {
			return handTokenHS256(t, map[string]any{"alg": "hs256", "typ": "JWT"}, claims("alice", "acme", "user"))
		}},
		{"alg none", func(t *testing.T) string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			c, _ := json.Marshal(claims("alice", "acme", "admin"))
			return h + "." + base64.RawURLEncoding.EncodeToString(c) + "."
		}},
		{"a tampered payload", func(t *testing.T) string {
			parts := strings.Split(token(t, "alice", "acme", "user"), ".")
			c, _ := json.Marshal(claims("alice", "acme", "admin"))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
		}},
		{"garbage", func(*testing.T) string { return "not-a-jwt" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			he := handshake(t, p.URL, client.Options{Token: tc.token(t)})
			assertUnauthorized(t, he, "Invalid token")
		})
	}

	t.Run("no token at all is a missing bearer token", func(t *testing.T) {
		t.Parallel()
		assertUnauthorized(t, handshake(t, p.URL, client.Options{}), "Missing bearer token")
	})

	t.Run("the log says why, the client does not", func(t *testing.T) {
		t.Parallel()
		he := handshake(t, p.URL, client.Options{Token: testutil.Token(t, secret,
			with(claims("mallory", "acme", "user"), map[string]any{"exp": now.Add(-time.Hour).Unix()}))})
		assertUnauthorized(t, he, "Invalid token")
		p.WaitStderr(t, "handshake refused", 5*time.Second)
	})
}

func TestAValidTokenConnectsAndWhoamiShowsSubjectTenantAndRole(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, authEnv())
	cases := []struct {
		name string
		opts func(tok string) client.Options
		role string
	}{
		{"a bearer header", func(tok string) client.Options { return client.Options{Token: tok} }, "user"},
		{"a lower-case bearer scheme", func(tok string) client.Options {
			return client.Options{Header: http.Header{"Authorization": {"bearer  " + tok}}}
		}, "admin"},
		{"a query token in dev", func(tok string) client.Options { return client.Options{Token: tok, QueryToken: true} }, "guest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, p.URL, tc.opts(token(t, "alice", "acme", tc.role)))
			who := testutil.Command(t, c, "whoami", nil)
			assert.Equal(t, c.ID(), who["client_id"])
			assert.Equal(t, "alice", who["subject"])
			assert.Equal(t, "acme", who["tenant_id"])
			assert.Equal(t, tc.role, who["role"])
		})
	}

	t.Run("a token without a role is a user", func(t *testing.T) {
		t.Parallel()
		c := dialToken(t, p.URL, testutil.Token(t, secret, claims("alice", "acme", "")))
		assert.Equal(t, "user", testutil.Command(t, c, "whoami", nil)["role"])
	})

	t.Run("a guest may ping but not join or publish", func(t *testing.T) {
		t.Parallel()
		c := dialToken(t, p.URL, token(t, "gus", "acme", "guest"))
		testutil.Command(t, c, "ping", nil)
		_, err := c.Command(testutil.Ctx(t), "join_channel", map[string]string{"room": "science", "channel": "explore"})
		assert.Equal(t, protocol.CodeAuthorization, protocol.AsWire(err).Code, "join: %v", err)
		_, err = c.Publish(testutil.Ctx(t), "science", "explore", map[string]string{"x": "y"})
		assert.Equal(t, protocol.CodeAuthorization, protocol.AsWire(err).Code, "publish: %v", err)
	})
}

func TestProdAcceptsHeaderTokensWithATenantAndRefusesQueryTokens(t *testing.T) {
	t.Parallel()
	p := testutil.RunBinary(t, strictProd("0"))
	tok := testutil.Token(t, secret, testutil.Claims("alice", "acme", "user"))

	c := dialToken(t, p.URL, tok)
	assert.Equal(t, "acme", testutil.Command(t, c, "whoami", nil)["tenant_id"])

	assertUnauthorized(t, handshake(t, p.URL, client.Options{Token: tok, QueryToken: true}), "Missing bearer token")
	assertUnauthorized(t, handshake(t, p.URL, client.Options{Token: testutil.Token(t, secret, testutil.Claims("alice", "", "user"))}),
		"Invalid token")
}

func TestTheTokenSubcommandMintsTokensTheServerAccepts(t *testing.T) {
	t.Parallel()
	env := authEnv()
	code, stdout, stderr := testutil.RunBinaryExit(t, env, "token", "--sub", "alice", "--tenant", "acme", "--role", "admin", "--ttl", "10m")
	require.Equal(t, 0, code, "exit status; stderr:\n%s", stderr)
	tok := strings.TrimSpace(stdout)
	require.Equal(t, 2, strings.Count(tok, "."), "one compact JWT on stdout: %q", stdout)
	assert.NotContains(t, stdout+stderr, secret)

	p := testutil.RunBinary(t, env)
	who := testutil.Command(t, dialToken(t, p.URL, tok), "whoami", nil)
	assert.Equal(t, "alice", who["subject"])
	assert.Equal(t, "acme", who["tenant_id"])
	assert.Equal(t, "admin", who["role"])

	t.Run("token check accepts it", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := testutil.RunBinaryExit(t, env, "token", "check", tok)
		assert.Equal(t, 0, code, "stderr:\n%s", stderr)
	})
	t.Run("token check refuses an expired token with status 1", func(t *testing.T) {
		t.Parallel()
		expired := testutil.Token(t, secret, with(claims("alice", "acme", "user"),
			map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
		code, _, _ := testutil.RunBinaryExit(t, env, "token", "check", expired)
		assert.Equal(t, 1, code)
	})
	t.Run("without a secret there is nothing to sign with", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := testutil.RunBinaryExit(t, devEnv(), "token", "--sub", "alice")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "ARQONBUS_AUTH_JWT_SECRET")
	})
	t.Run("an unknown role is refused", func(t *testing.T) {
		t.Parallel()
		code, stdout, _ := testutil.RunBinaryExit(t, env, "token", "--sub", "alice", "--role", "root")
		assert.Equal(t, 2, code)
		assert.Empty(t, strings.TrimSpace(stdout))
	})
}
