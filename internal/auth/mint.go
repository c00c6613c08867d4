package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/arqonbus/arqonbus/internal/config"
)

// MintClaims is what `arqonbus token` puts in a development token.
type MintClaims struct {
	// Subject is the sub claim; required.
	Subject string
	// Tenant is the tenant_id claim; omitted when empty.
	Tenant string
	// Role is written as the role claim. The zero value is RoleGuest, so a
	// caller wanting the default parses "user" explicitly.
	Role Role
	// TTL sets exp = Now + TTL; it must be positive because the verifier
	// requires exp.
	TTL time.Duration
	// Issuer and Audience become iss and aud (a single string) when set.
	Issuer, Audience string
	// Now is the issue time; the zero value means time.Now. It is here so
	// the clock stays injectable.
	Now time.Time
}

// Mint signs a token with an HMAC secret for development and tests: the bus
// never holds asymmetric private keys, so only HS256, HS384 and HS512 are
// offered. It sets sub, role, iat, exp and, when given, tenant_id, iss and
// aud.
func Mint(secret string, alg string, c MintClaims) (string, error) {
	if secret == "" {
		return "", fmt.Errorf("mint: empty secret: set %s", config.VarAuthJWTSecret)
	}
	a, ok := algorithms[alg]
	if !ok || a.kind != kindHMAC {
		return "", fmt.Errorf("mint: algorithm %q is not HS256, HS384 or HS512", alg)
	}
	if c.Subject == "" {
		return "", errors.New("mint: subject is required")
	}
	if c.TTL <= 0 {
		return "", fmt.Errorf("mint: ttl must be positive, got %s", c.TTL)
	}
	role, err := c.Role.MarshalText()
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	claims := jwt.MapClaims{
		"sub":  c.Subject,
		"role": string(role),
		"iat":  jwt.NewNumericDate(now),
		"exp":  jwt.NewNumericDate(now.Add(c.TTL)),
	}
	if c.Tenant != "" {
		claims["tenant_id"] = c.Tenant
	}
	if c.Issuer != "" {
		claims["iss"] = c.Issuer
	}
	if c.Audience != "" {
		claims["aud"] = c.Audience
	}
	s, err := jwt.NewWithClaims(a.method, claims).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("mint: sign: %w", err)
	}
	return s, nil
}
