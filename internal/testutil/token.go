package testutil

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token signs claims with HS256 and secret and returns the compact JWT.
// The claims are used exactly as given, nothing is added, so tests can
// build incomplete or hostile claim sets; Claims returns a valid base set
// to start from.
func Token(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("sign test token: %v", err)
	}
	return tok
}

// Claims returns a valid claim set: sub, iat, exp one hour ahead, and
// tenant_id and role when not empty. Add or delete keys to taste.
func Claims(subject, tenant, role string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"sub": subject,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if tenant != "" {
		c["tenant_id"] = tenant
	}
	if role != "" {
		c["role"] = role
	}
	return c
}
