package auth

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
)

// lineOf returns the line of out that starts with prefix (after indentation).
func lineOf(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), prefix) {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("no line starting %q in:\n%s", prefix, out)
	return ""
}

// TestExplainLabelsWhatWasVerified: the header and claims of an accepted
// token are shown as verified; those of a token whose signature failed are
// labelled unverified. The verifier line names only the checks configured.
func TestExplainLabelsWhatWasVerified(t *testing.T) {
	strict := hsVerifier(t, func(o *Options) { o.Issuer, o.Audience, o.RequireTenant = "idp", "bus", true })
	good := validClaims()
	good["iss"], good["aud"] = "idp", "bus"

	out := Explain(strict, hsToken(t, good))
	assert.Equal(t, `header: alg="HS256" typ="JWT"`, lineOf(t, out, "header"))
	assert.True(t, strings.HasPrefix(lineOf(t, out, "claims"), `claims: aud="bus"`))
	assert.Equal(t, `verifier: algorithms HS256, key from ARQONBUS_AUTH_JWT_SECRET, leeway 30s, issuer "idp", audience "bus", tenant required, now 2030-01-02T03:04:05Z`,
		lineOf(t, out, "verifier"))

	forged := Explain(strict, signToken(t, jwt.SigningMethodHS256, []byte("other secret, long enough to use!"), good, nil))
	assert.Equal(t, `header (unverified): alg="HS256" typ="JWT"`, lineOf(t, forged, "header"))

	plain := Explain(hsVerifier(t, nil), hsToken(t, validClaims()))
	assert.Equal(t, "verifier: algorithms HS256, key from ARQONBUS_AUTH_JWT_SECRET, leeway 30s, now 2030-01-02T03:04:05Z",
		lineOf(t, plain, "verifier"), "no issuer, audience or tenant check configured")

	noHeader := Explain(hsVerifier(t, nil), "e30.e30.sig") // "{}" header and claims
	assert.Contains(t, noHeader, "header (unverified): \n")
	assert.NotContains(t, Explain(hsVerifier(t, nil), "not-base64!.e30.sig"), "  header", "a header that does not decode is not shown")
}

// TestExplainGivesTheDetailOfAnUnlistedReason: a refusal without its own
// sentence shows the failure's detail alone, not the error's full text.
func TestExplainGivesTheDetailOfAnUnlistedReason(t *testing.T) {
	c := validClaims()
	c["tenant_id"] = 5
	out := Explain(hsVerifier(t, nil), hsToken(t, c))
	assert.Equal(t, "refused (bad_tenant): tenant_id claim is not a string", lineOf(t, out, "refused"))
}

// TestExplainPrintsClaimsPlainlyOnlyWhenSafe: claim names of up to 32
// base64url characters print bare, others quoted; values are cut to 80
// bytes on a character boundary; NumericDates print as times up to 1e12.
func TestExplainPrintsClaimsPlainlyOnlyWhenSafe(t *testing.T) {
	c := validClaims()
	c[strings.Repeat("n", 32)] = 1
	c[strings.Repeat("m", 33)] = 2
	c["a b"] = 3
	c["nbf"] = 1e12
	c["fits"] = strings.Repeat("x", 78)                                 // 80 bytes quoted
	c["over"] = strings.Repeat("x", 79)                                 // 81 bytes quoted
	c["wide"] = strings.Repeat("x", 75) + "é" + strings.Repeat("y", 10) // é straddles byte 77
	claims := lineOf(t, Explain(hsVerifier(t, nil), hsToken(t, c)), "claims")

	assert.Contains(t, claims, " "+strings.Repeat("n", 32)+"=1 ")
	assert.Contains(t, claims, ` "`+strings.Repeat("m", 33)+`"=2 `)
	assert.Contains(t, claims, `"a b"=3 `)
	assert.Contains(t, claims, "nbf=1000000000000 (33658-09-27T01:46:40Z) ")
	assert.Contains(t, claims, ` fits="`+strings.Repeat("x", 78)+`" `)
	assert.Contains(t, claims, ` over="`+strings.Repeat("x", 76)+`... `)
	assert.True(t, strings.HasSuffix(claims, ` wide="`+strings.Repeat("x", 75)+`...`), claims)
	assert.True(t, utf8.ValidString(claims))
}
