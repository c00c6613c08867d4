package adversarial

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// forgeRawClaims signs a claims segment written byte for byte, so it can
// hold what json.Marshal never writes: lone surrogate escapes and bytes
// that are not UTF-8.
func forgeRawClaims(rawClaims, key string) string {
	enc := base64.RawURLEncoding.EncodeToString
	unsigned := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(rawClaims))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc(mac.Sum(nil))
}

// rawClaims writes a valid claim set with sub, tenant_id and role spelled
// exactly as given (each already a JSON string literal, quotes included).
func rawClaims(sub, tenant, role string) string {
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	return `{"sub":` + sub + `,"tenant_id":` + tenant + `,"role":` + role + `,"exp":` + exp + `}`
}

// A decoder that replaces lone surrogates and invalid UTF-8 with U+FFFD
// turns distinct tenant_id spellings ("zz\ud800", "zz\udbff") into one
// tenant. Every such spelling of sub, tenant_id or role, and the written
// replacement character the decoded text cannot be told from, is refused at
// the handshake with 401 and counted under the claim's reason. A surrogate
// pair that forms a real character still works, as its own tenant.
func TestClaimsWithLoneSurrogatesOrInvalidUTF8AreRefusedAtTheHandshake(t *testing.T) {
	s := start(t, func(c *config.Config) {
		c.EnableAuth, c.AuthJWTSecret, c.AuthJWTAlgorithms = true, tokenSecret, []string{"HS256"}
		c.AuthRequireTenant = true
	})
	victim := testutil.Dial(t, s, client.Options{Token: forgeRawClaims(rawClaims(`"victim"`, `"zz"`, `"user"`), tokenSecret)})
	testutil.Join(t, victim, "room", "secret")

	cases := []struct {
		name, claims, reason string
	}{
		{"a lone high surrogate in tenant_id", rawClaims(`"m1"`, `"zz\ud800"`, `"user"`), "bad_tenant"},
		{"another lone high surrogate in tenant_id", rawClaims(`"m2"`, `"zz\udbff"`, `"user"`), "bad_tenant"},
		{"a lone low surrogate in tenant_id", rawClaims(`"m3"`, `"zz\udc00"`, `"user"`), "bad_tenant"},
		{"a reversed pair in tenant_id", rawClaims(`"m4"`, `"zz\udc00\ud800"`, `"user"`), "bad_tenant"},
		{"a high surrogate before a letter in tenant_id", rawClaims(`"m5"`, `"zz\ud800\u0041"`, `"user"`), "bad_tenant"},
		{"a byte that is not UTF-8 in tenant_id", rawClaims(`"m6"`, "\"zz\xff\"", `"user"`), "bad_tenant"},
		{"a truncated UTF-8 sequence in tenant_id", rawClaims(`"m7"`, "\"zz\xe2\x82\"", `"user"`), "bad_tenant"},
		{"an escaped replacement character in tenant_id", rawClaims(`"m9"`, `"zz\ufffd"`, `"user"`), "bad_tenant"},
		{"a written replacement character in tenant_id", rawClaims(`"m10"`, "\"zz\uFFFD\"", `"user"`), "bad_tenant"},
		{"a lone surrogate in sub", rawClaims(`"mallory\ud800"`, `"acme"`, `"user"`), "bad_sub"},
		{"a byte that is not UTF-8 in sub", rawClaims("\"mallory\xc3\"", `"acme"`, `"user"`), "bad_sub"},
		{"a lone surrogate in role", rawClaims(`"m8"`, `"acme"`, `"admin\udfff"`), "bad_role"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Counter(t, "auth_failures_total", tc.reason)
			c, err := client.Dial(testutil.Ctx(t), s.URL, client.Options{Token: forgeRawClaims(tc.claims, tokenSecret)})
			if err == nil {
				who := testutil.Command(t, c, "whoami", nil)
				_ = c.Close()
				t.Fatalf("the handshake was accepted as %v, want 401", who)
			}
			var he *client.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, http.StatusUnauthorized, he.Status)
			var body map[string]string
			require.NoError(t, json.Unmarshal([]byte(he.Body), &body), he.Body)
			assert.Equal(t, "Invalid token", body["details"])
			assert.Equal(t, before+1, s.Counter(t, "auth_failures_total", tc.reason), "counted as %s", tc.reason)
		})
	}

	// Control: a surrogate pair is one real character (U+1F600), so the
	// refusals above are about lone halves only. Its tenant is its own: a
	// message there reaches its member and never the victim.
	pair := func(sub string) *client.Client {
		return testutil.Dial(t, s, client.Options{Token: forgeRawClaims(rawClaims(`"`+sub+`"`, `"zz\ud83d\ude00"`, `"user"`), tokenSecret)})
	}
	e1, e2 := pair("e1"), pair("e2")
	assert.Equal(t, "zz\U0001F600", testutil.Command(t, e1, "whoami", nil)["tenant_id"])
	testutil.Join(t, e1, "room", "secret")
	ack := testutil.Publish(t, e2, "room", "secret", map[string]any{"from": "another tenant"})
	assert.Equal(t, 1, ack.Delivered, "the message reaches its own tenant's member")
	testutil.Expect(t, e1)
	testutil.ExpectNone(t, victim, 200*time.Millisecond)

	// The victim's tenant still works, and holds the victim alone.
	peer := testutil.Dial(t, s, client.Options{Token: forgeRawClaims(rawClaims(`"peer"`, `"zz"`, `"user"`), tokenSecret)})
	ack = testutil.Publish(t, peer, "room", "secret", map[string]any{"n": 1})
	assert.Equal(t, 1, ack.Delivered, "the victim alone is a member in its tenant")
	testutil.Expect(t, victim)
}
