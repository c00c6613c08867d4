package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMintedTokensVerify(t *testing.T) {
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		t.Run(alg+" round-trips through the verifier", func(t *testing.T) {
			tok, err := Mint(testSecret, alg, MintClaims{
				Subject: "bob", Tenant: "acme", Role: RoleAdmin, TTL: time.Hour,
				Issuer: "arqonbus-dev", Audience: "bus", Now: testNow,
			})
			require.NoError(t, err)
			v := hsVerifier(t, func(o *Options) {
				o.Algorithms = []string{alg}
				o.Issuer, o.Audience, o.RequireTenant = "arqonbus-dev", "bus", true
			})
			id, err := v.Verify(tok)
			require.NoError(t, err)
			assert.Equal(t, Identity{Subject: "bob", Tenant: "acme", Role: RoleAdmin,
				ExpiresAt: testNow.Add(time.Hour + 30*time.Second)}, id)
		})
	}
}

func TestMintWritesTheGuestRoleForTheZeroRole(t *testing.T) {
	tok, err := Mint(testSecret, "HS256", MintClaims{Subject: "g", TTL: time.Minute, Now: testNow})
	require.NoError(t, err)
	id, err := hsVerifier(t, nil).Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, RoleGuest, id.Role)
	assert.Empty(t, id.Tenant)
}

func TestMintUsesTheWallClockWhenNowIsZero(t *testing.T) {
	tok, err := Mint(testSecret, "HS256", MintClaims{Subject: "w", TTL: time.Minute})
	require.NoError(t, err)
	_, err = hsVerifier(t, func(o *Options) { o.Clock = nil }).Verify(tok)
	require.NoError(t, err)
}

func TestMintRefusesWhatCouldNotVerify(t *testing.T) {
	ok := MintClaims{Subject: "s", TTL: time.Minute, Now: testNow}
	tests := []struct {
		name   string
		secret string
		alg    string
		c      MintClaims
	}{
		{"an empty secret is refused", "", "HS256", ok},
		{"an asymmetric algorithm is refused", testSecret, "RS256", ok},
		{"a lower-case algorithm is refused", testSecret, "hs256", ok},
		{"alg none is refused", testSecret, "none", ok},
		{"an empty subject is refused", testSecret, "HS256", MintClaims{TTL: time.Minute}},
		{"a zero ttl is refused", testSecret, "HS256", MintClaims{Subject: "s"}},
		{"a negative ttl is refused", testSecret, "HS256", MintClaims{Subject: "s", TTL: -time.Second}},
		{"an invalid role is refused", testSecret, "HS256", MintClaims{Subject: "s", TTL: time.Minute, Role: Role(9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(tt.secret, tt.alg, tt.c)
			require.Error(t, err)
			assert.Empty(t, tok)
			assert.NotContains(t, err.Error(), testSecret)
		})
	}
}
