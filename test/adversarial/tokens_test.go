package adversarial

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

const tokenSecret = "adversarial-secret-of-at-least-32-bytes!"

// forge builds a compact JWT from a raw header and claims, signed with
// HMAC-SHA256 under key (the algorithm named in the header is not checked
// here: lying about it is the point).
func forge(header, claims map[string]any, key string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	unsigned := enc(header) + "." + enc(claims)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestHostileTokensAreRefusedAtTheHandshakeWithoutHurtingOthers drives every
// kind of bad token through a real handshake: each gets HTTP 401 with the
// documented body and challenge (431 for an oversized one), is counted by
// reason, and a connected client keeps working. The verifier's own tests
// cover each claim rule at its boundary; this proves the server wires them.
func TestHostileTokensAreRefusedAtTheHandshakeWithoutHurtingOthers(t *testing.T) {
	s := start(t, func(c *config.Config) {
		c.EnableAuth, c.AuthJWTSecret, c.AuthJWTAlgorithms = true, tokenSecret, []string{"HS256"}
		c.AuthRequireTenant, c.AuthLeeway = true, 0
	})
	good := testutil.Claims("alice", "acme", "user")
	bystander := testutil.Dial(t, s, client.Options{Token: testutil.Token(t, tokenSecret, good)})
	testutil.Join(t, bystander, "room", "safe")

	with := func(edit func(map[string]any)) map[string]any {
		c := testutil.Claims("mallory", "acme", "user")
		edit(c)
		return c
	}
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	valid := testutil.Token(t, tokenSecret, good)
	parts := strings.Split(valid, ".")
	now := time.Now()

	cases := []struct {
		name, token, details string
		status               int
	}{
		{"no token at all", "", "Missing bearer token", http.StatusUnauthorized},
		{"alg none", forge(map[string]any{"alg": "none"}, good, tokenSecret), "Invalid token", 401},
		{"alg None", forge(map[string]any{"alg": "None"}, good, tokenSecret), "Invalid token", 401},
		{"alg hs256 in lower case", forge(map[string]any{"alg": "hs256"}, good, tokenSecret), "Invalid token", 401},
		{"alg HS512 with an HS256-only list", forge(map[string]any{"alg": "HS512"}, good, tokenSecret), "Invalid token", 401},
		{"unsigned (empty signature)", parts[0] + "." + parts[1] + ".", "Invalid token", 401},
		{"signed with another key", forge(hs256, good, "another-secret-of-at-least-32-bytes!!"), "Invalid token", 401},
		{"two segments", parts[0] + "." + parts[1], "Invalid token", 401},
		{"four segments", valid + ".x", "Invalid token", 401},
		{"not base64", "@@@.###.$$$", "Invalid token", 401},
		{"no exp", forge(hs256, with(func(c map[string]any) { delete(c, "exp") }), tokenSecret), "Invalid token", 401},
		{"expired", forge(hs256, with(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }), tokenSecret), "Invalid token", 401},
		{"not yet valid", forge(hs256, with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), tokenSecret), "Invalid token", 401},
		{"issued in the future", forge(hs256, with(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }), tokenSecret), "Invalid token", 401},
		{"no subject", forge(hs256, with(func(c map[string]any) { delete(c, "sub") }), tokenSecret), "Invalid token", 401},
		{"no tenant", forge(hs256, with(func(c map[string]any) { delete(c, "tenant_id") }), tokenSecret), "Invalid token", 401},
		{"unknown role", forge(hs256, with(func(c map[string]any) { c["role"] = "root" }), tokenSecret), "Invalid token", 401},
		{"role of the wrong type", forge(hs256, with(func(c map[string]any) { c["role"] = 7 }), tokenSecret), "Invalid token", 401},
		{"huge", strings.Repeat("a", 9000), "Token too large", http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: tc.token})
			var he *client.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tc.status, he.Status)
			var body map[string]string
			require.NoError(t, json.Unmarshal([]byte(he.Body), &body), he.Body)
			assert.Equal(t, tc.details, body["details"])
			if tc.status == http.StatusUnauthorized {
				assert.Equal(t, "Unauthorized", body["error"])
				assert.Equal(t, `Bearer realm="arqonbus"`, he.Headers.Get("WWW-Authenticate"))
			}
			if tc.token != "" && len(tc.token) < 200 {
				assert.NotContains(t, s.Logs.String(), tc.token, "tokens never reach the log")
			}
		})
	}
	// Refusals decided before the signature count as invalid_token (the
	// metric must not tell a forger which check failed); the log names the
	// precise reason.
	var refused float64
	for _, reason := range []string{"missing", "invalid_token",
		"missing_exp", "expired", "not_yet_valid", "issued_in_future", "missing_sub", "missing_tenant", "bad_role", "bad_claim_type"} {
		refused += s.Counter(t, "auth_failures_total", reason)
	}
	assert.Equal(t, float64(len(cases)), refused, "every refusal is counted by reason")
	assert.Equal(t, 10.0, s.Counter(t, "auth_failures_total", "invalid_token"), "alg x4, signature x2, shape x3, size")
	for _, precise := range []string{"too_large", "malformed", "bad_algorithm", "bad_signature"} {
		assert.True(t, s.Logs.Contains("reason="+precise), "the log names %s", precise)
	}

	testutil.Publish(t, bystander, "room", "safe", map[string]any{"still": "here"})
	testutil.Command(t, bystander, "ping", nil)
}
