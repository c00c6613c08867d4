package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
)

func TestExplain(t *testing.T) {
	k := testKeys(t)
	hs := hsVerifier(t, func(o *Options) { o.Issuer, o.Audience, o.RequireTenant = "idp", "bus", true })
	jwksV := jwksVerifier(t, []string{"RS256"}, jwkOf(t, &k.rsa.PublicKey, "a", ""), jwkOf(t, &k.rsaOther.PublicKey, "b", ""))
	good := validClaims()
	good["iss"], good["aud"] = "idp", "bus"
	with := func(edit func(jwt.MapClaims)) string {
		c := validClaims()
		c["iss"], c["aud"] = "idp", "bus"
		edit(c)
		return hsToken(t, c)
	}
	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  []string
	}{
		{"an accepted token shows its identity and deadline", hs, hsToken(t, good),
			[]string{"accepted:", `subject "alice"`, `tenant "acme"`, "role user", "valid until 2030-01-02T04:04:35Z", "in 1h0m30s"}},
		{"an expired token shows exp, now and leeway", hs, with(func(c jwt.MapClaims) { c["exp"] = unix(-time.Hour) }),
			[]string{"refused (expired)", "claims (signature valid): aud=\"bus\"", "exp 1893549845 (2030-01-02T02:04:05Z) is past", "now 2030-01-02T03:04:05Z", "leeway 30s"}},
		{"a refused algorithm names the allow-list", hs, signToken(t, jwt.SigningMethodHS512, []byte(testSecret), good, nil),
			[]string{"refused (bad_algorithm)", "alg HS512 is not in", "ARQONBUS_AUTH_JWT_ALGORITHMS is HS256"}},
		{"a wrong issuer shows both issuers", hs, with(func(c jwt.MapClaims) { c["iss"] = "evil" }),
			[]string{"refused (bad_issuer)", `iss is "evil"`, `wants "idp"`}},
		{"a wrong audience shows both audiences", hs, with(func(c jwt.MapClaims) { c["aud"] = []string{"x"} }),
			[]string{"refused (bad_audience)", `aud is ["x"]`, `wants "bus"`}},
		{"a missing tenant names the setting", hs, with(func(c jwt.MapClaims) { delete(c, "tenant_id") }),
			[]string{"refused (missing_tenant)", "ARQONBUS_AUTH_REQUIRE_TENANT"}},
		{"a bad role shows the role", hs, with(func(c jwt.MapClaims) { c["role"] = "Admin" }),
			[]string{"refused (bad_role)", `role is "Admin"`}},
		{"an unknown kid lists the known kids", jwksV, signToken(t, jwt.SigningMethodRS256, k.rsa, good, kid("z")),
			[]string{"refused (unknown_kid)", `kid "z"`, `known: "a", "b"`}},
		{"a missing kid counts the keys", jwksV, signToken(t, jwt.SigningMethodRS256, k.rsa, good, nil),
			[]string{"refused (missing_kid)", "holds 2 keys"}},
		{"a malformed token says what shape is expected", hs, "abc",
			[]string{"refused (malformed)", "header.payload.signature"}},
		{"an empty token says so", hs, "", []string{"refused (missing)", "empty"}},
		{"an oversized token gives its size", hs, strings.Repeat("a", MaxTokenSize+5), []string{"refused (too_large)", "8197 bytes", "limit is 8192"}},
		{"a critical header is named", hs, hmacWith([]byte(testSecret), `{"alg":"HS256","crit":["x"]}`, validPayload(t)),
			[]string{"refused (unsupported_header)", "crit"}},
		{"a wrong signature names the key source", hs, signToken(t, jwt.SigningMethodHS256, []byte("other secret, long enough to use!"), good, nil),
			[]string{"refused (bad_signature)", "ARQONBUS_AUTH_JWT_SECRET", "claims (unverified)"}},
		{"a claim of the wrong type lists the expected types", hs, with(func(c jwt.MapClaims) { c["exp"] = "soon" }),
			[]string{"refused (bad_claim_type)", "exp, nbf and iat are numbers"}},
		{"a token without exp says why that matters", hs, with(func(c jwt.MapClaims) { delete(c, "exp") }),
			[]string{"refused (missing_exp)", "never expire"}},
		{"a future nbf shows nbf and now", hs, with(func(c jwt.MapClaims) { c["nbf"] = unix(time.Hour) }),
			[]string{"refused (not_yet_valid)", "nbf 1893557045 (2030-01-02T04:04:05Z) is ahead"}},
		{"a future iat points at the issuer's clock", hs, with(func(c jwt.MapClaims) { c["iat"] = unix(time.Hour) }),
			[]string{"refused (issued_in_future)", "issuer's clock"}},
		{"a missing subject says so", hs, with(func(c jwt.MapClaims) { delete(c, "sub") }),
			[]string{"refused (missing_sub)", "no sub claim"}},
		{"a bad tenant gives the detail", hs, with(func(c jwt.MapClaims) { c["tenant_id"] = 5 }),
			[]string{"refused (bad_tenant)", "not a string"}},
		{"a nil verifier says authentication is not configured", nil, "x", []string{"refused (unconfigured)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Explain(tt.v, tt.token)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			if len(tt.token) > 8 {
				assert.NotContains(t, out, tt.token, "the explanation never prints the token")
			}
		})
	}
}

func TestExplainCannotBeTrickedIntoExtraLines(t *testing.T) {
	c := validClaims()
	c["role"] = "x\nrefused (forged): ok"
	out := Explain(hsVerifier(t, nil), hsToken(t, c))
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		assert.False(t, strings.HasPrefix(line, "refused (forged)"), "claim text must stay on its own line, escaped")
	}
	assert.Contains(t, out, `\n`)
}

func TestExplainShortensLongClaims(t *testing.T) {
	c := validClaims()
	c["sub"] = strings.Repeat("é", 100)
	out := Explain(hsVerifier(t, nil), hsToken(t, c))
	assert.Contains(t, out, "...")
	assert.NotContains(t, out, strings.Repeat("é", 50))
}
