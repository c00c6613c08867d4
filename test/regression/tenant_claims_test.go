package regression

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// signRawClaims signs a claims segment exactly as written, for spellings
// json.Marshal never produces.
func signRawClaims(key, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(claims))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return signing + "." + enc(mac.Sum(nil))
}

// Token claims went through encoding/json, which silently replaces a lone
// surrogate escape with U+FFFD: tokens for tenant "zz\ud800" and tenant
// "zz\udbff" both became tenant "zz\uFFFD" and shared every room, stored
// message and key. Now a sub, tenant_id or role that decoding would alter is
// refused at the handshake (401, counted as bad_sub, bad_tenant or
// bad_role), so two spellings can never become one tenant.
func TestRegression_LoneSurrogatesInTenantIDDoNotMergeTenants(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret))
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	token := func(sub, tenant string) string {
		return signRawClaims(secret, `{"sub":"`+sub+`","tenant_id":"`+tenant+`","exp":`+exp+`}`)
	}
	// Control: the plain spelling is accepted, so the refusals below are
	// about the surrogates alone.
	plain := testutil.Dial(t, s, client.Options{Token: token("a", "zz")})
	assert.Equal(t, "zz", testutil.Command(t, plain, "whoami", nil)["tenant_id"])

	for _, tenant := range []string{`zz\ud800`, `zz\udbff`} {
		before := s.Counter(t, "auth_failures_total", auth.ReasonBadTenant)
		he := refusedHandshake(t, s, token("b", tenant))
		assert.Equal(t, http.StatusUnauthorized, he.Status, "tenant %s", tenant)
		assert.JSONEq(t, `{"error":"Unauthorized","details":"Invalid token"}`, he.Body, "tenant %s", tenant)
		assert.Equal(t, before+1, s.Counter(t, "auth_failures_total", auth.ReasonBadTenant), "tenant %s is a bad tenant", tenant)
	}
}
