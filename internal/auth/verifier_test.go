package auth

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyAcceptsAValidTokenAndMapsItsIdentity(t *testing.T) {
	v := hsVerifier(t, nil)
	id, err := v.Verify(hsToken(t, validClaims()))
	require.NoError(t, err)
	assert.Equal(t, Identity{
		Subject:   "alice",
		Tenant:    "acme",
		Role:      RoleUser,
		ExpiresAt: testNow.Add(time.Hour + 30*time.Second),
	}, id, "ExpiresAt is exp plus the leeway")
}

// TestVerifyTimeClaimsAtTheirBoundaries pins exp, nbf and iat one second
// either side of the edge the leeway draws, for leeway 0, the default and
// the maximum. The edges are: exp is refused once now >= exp+leeway; nbf
// and iat are refused while now < claim-leeway.
func TestVerifyTimeClaimsAtTheirBoundaries(t *testing.T) {
	for _, leeway := range []time.Duration{0, 30 * time.Second, MaxLeeway} {
		tests := []struct {
			name  string
			claim string
			at    time.Duration // the claim's offset from now
			want  string        // "" = accepted
		}{
			{"exp one second before now minus leeway is expired", "exp", -leeway - time.Second, ReasonExpired},
			{"exp exactly at now minus leeway is expired", "exp", -leeway, ReasonExpired},
			{"exp one second after now minus leeway is accepted", "exp", -leeway + time.Second, ""},
			{"nbf one second before now plus leeway is accepted", "nbf", leeway - time.Second, ""},
			{"nbf exactly at now plus leeway is accepted", "nbf", leeway, ""},
			{"nbf one second after now plus leeway is not yet valid", "nbf", leeway + time.Second, ReasonNotYetValid},
			{"iat one second before now plus leeway is accepted", "iat", leeway - time.Second, ""},
			{"iat exactly at now plus leeway is accepted", "iat", leeway, ""},
			{"iat one second after now plus leeway is issued in the future", "iat", leeway + time.Second, ReasonIssuedInFuture},
		}
		for _, tt := range tests {
			t.Run(leeway.String()+"/"+tt.name, func(t *testing.T) {
				v := hsVerifier(t, func(o *Options) { o.Leeway = leeway })
				c := validClaims()
				c[tt.claim] = unix(tt.at)
				_, err := v.Verify(hsToken(t, c))
				if tt.want == "" {
					require.NoError(t, err)
					return
				}
				assert.Equal(t, tt.want, failureReason(t, err))
			})
		}
	}
}

func TestVerifyUsesTheInjectedClock(t *testing.T) {
	tok := hsToken(t, validClaims())
	early := hsVerifier(t, func(o *Options) { o.Clock = clockAt(testNow.Add(-2 * time.Minute)) })
	late := hsVerifier(t, func(o *Options) { o.Clock = clockAt(testNow.Add(2 * time.Hour)) })

	_, err := early.Verify(tok)
	assert.Equal(t, ReasonIssuedInFuture, failureReason(t, err))
	_, err = late.Verify(tok)
	assert.Equal(t, ReasonExpired, failureReason(t, err))
}

func TestNewVerifierBoundsTheLeeway(t *testing.T) {
	tests := []struct {
		name   string
		leeway time.Duration
		ok     bool
	}{
		{"no leeway is allowed", 0, true},
		{"the maximum leeway is allowed", MaxLeeway, true},
		{"a negative leeway is refused", -time.Second, false},
		{"a leeway beyond the maximum is refused", MaxLeeway + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(Options{Secret: testSecret, Leeway: tt.leeway})
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ARQONBUS_AUTH_LEEWAY")
		})
	}
}

// TestVerifyClaimRules changes one claim of a valid token at a time.
func TestVerifyClaimRules(t *testing.T) {
	long := strings.Repeat("x", maxClaimText)
	tests := []struct {
		name string
		opts func(*Options)
		edit func(jwt.MapClaims)
		want string // "" = accepted
	}{
		{"a token without exp is refused", nil, func(c jwt.MapClaims) { delete(c, "exp") }, ReasonMissingExp},
		{"an exp of zero counts as missing", nil, func(c jwt.MapClaims) { c["exp"] = 0 }, ReasonMissingExp},
		{"an exp written as a string is refused", nil, func(c jwt.MapClaims) { c["exp"] = "2030-01-02" }, ReasonBadClaimType},
		{"an exp beyond year 9999 is refused", nil, func(c jwt.MapClaims) { c["exp"] = 1e300 }, ReasonBadClaimType},
		{"an nbf written as a string is refused", nil, func(c jwt.MapClaims) { c["nbf"] = "soon" }, ReasonBadClaimType},
		{"an iat written as a boolean is refused", nil, func(c jwt.MapClaims) { c["iat"] = true }, ReasonBadClaimType},
		{"a token without iat and nbf is accepted", nil, func(c jwt.MapClaims) { delete(c, "iat") }, ""},

		{"the configured issuer is accepted", issuer("https://idp"), func(c jwt.MapClaims) { c["iss"] = "https://idp" }, ""},
		{"another issuer is refused", issuer("https://idp"), func(c jwt.MapClaims) { c["iss"] = "https://evil" }, ReasonBadIssuer},
		{"an issuer differing only in case is refused", issuer("https://idp"), func(c jwt.MapClaims) { c["iss"] = "https://IDP" }, ReasonBadIssuer},
		{"a missing issuer is refused when one is configured", issuer("https://idp"), nil, ReasonBadIssuer},
		{"an issuer that is not a string is refused", issuer("https://idp"), func(c jwt.MapClaims) { c["iss"] = 7 }, ReasonBadClaimType},
		{"any issuer is accepted when none is configured", nil, func(c jwt.MapClaims) { c["iss"] = "anyone" }, ""},

		{"the audience as a string is accepted", audience("bus"), func(c jwt.MapClaims) { c["aud"] = "bus" }, ""},
		{"the audience inside an array is accepted", audience("bus"), func(c jwt.MapClaims) { c["aud"] = []string{"web", "bus"} }, ""},
		{"another audience as a string is refused", audience("bus"), func(c jwt.MapClaims) { c["aud"] = "web" }, ReasonBadAudience},
		{"an array without the audience is refused", audience("bus"), func(c jwt.MapClaims) { c["aud"] = []string{"web", "api"} }, ReasonBadAudience},
		{"an empty audience array is refused", audience("bus"), func(c jwt.MapClaims) { c["aud"] = []string{} }, ReasonBadAudience},
		{"a missing audience is refused when one is configured", audience("bus"), nil, ReasonBadAudience},
		{"an audience array holding a number is refused", audience("bus"), func(c jwt.MapClaims) { c["aud"] = []any{"bus", 1} }, ReasonBadClaimType},
		{"any audience is accepted when none is configured", nil, func(c jwt.MapClaims) { c["aud"] = "elsewhere" }, ""},

		{"a token without sub is refused", nil, func(c jwt.MapClaims) { delete(c, "sub") }, ReasonMissingSub},
		{"an empty sub is refused", nil, func(c jwt.MapClaims) { c["sub"] = "" }, ReasonMissingSub},
		{"a numeric sub is refused", nil, func(c jwt.MapClaims) { c["sub"] = 42 }, ReasonBadClaimType},
		{"a sub with a control character is refused", nil, func(c jwt.MapClaims) { c["sub"] = "al\nice" }, ReasonBadSub},
		{"a sub at the length limit is accepted", nil, func(c jwt.MapClaims) { c["sub"] = long }, ""},
		{"a sub over the length limit is refused", nil, func(c jwt.MapClaims) { c["sub"] = long + "x" }, ReasonBadSub},

		{"a required tenant that is absent is refused", requireTenant, func(c jwt.MapClaims) { delete(c, "tenant_id") }, ReasonMissingTenant},
		{"a required tenant that is empty is refused", requireTenant, func(c jwt.MapClaims) { c["tenant_id"] = "" }, ReasonMissingTenant},
		{"a required tenant that is present is accepted", requireTenant, nil, ""},
		{"a tenant that is not a string is refused", nil, func(c jwt.MapClaims) { c["tenant_id"] = 7 }, ReasonBadTenant},
		{"a null tenant is refused", nil, func(c jwt.MapClaims) { c["tenant_id"] = nil }, ReasonBadTenant},
		{"a tenant with a control character is refused", nil, func(c jwt.MapClaims) { c["tenant_id"] = "ac\x00me" }, ReasonBadTenant},
		{"a tenant over the length limit is refused", nil, func(c jwt.MapClaims) { c["tenant_id"] = long + "x" }, ReasonBadTenant},
		{"an absent tenant is accepted when not required", nil, func(c jwt.MapClaims) { delete(c, "tenant_id") }, ""},

		{"an upper-case role is refused", nil, func(c jwt.MapClaims) { c["role"] = "Admin" }, ReasonBadRole},
		{"an unknown role is refused", nil, func(c jwt.MapClaims) { c["role"] = "root" }, ReasonBadRole},
		{"an empty role is refused", nil, func(c jwt.MapClaims) { c["role"] = "" }, ReasonBadRole},
		{"a numeric role is refused", nil, func(c jwt.MapClaims) { c["role"] = 2 }, ReasonBadRole},
		{"a role array is refused", nil, func(c jwt.MapClaims) { c["role"] = []string{"admin"} }, ReasonBadRole},
		{"a null role is refused", nil, func(c jwt.MapClaims) { c["role"] = nil }, ReasonBadRole},
		{"a boolean role is refused", nil, func(c jwt.MapClaims) { c["role"] = true }, ReasonBadRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := hsVerifier(t, tt.opts)
			c := validClaims()
			if tt.edit != nil {
				tt.edit(c)
			}
			tok := hsToken(t, c)
			_, err := v.Verify(tok)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tt.want, failureReason(t, err))
			assert.NotContains(t, err.Error(), tok)
		})
	}
}

func issuer(s string) func(*Options)   { return func(o *Options) { o.Issuer = s } }
func audience(s string) func(*Options) { return func(o *Options) { o.Audience = s } }
func requireTenant(o *Options)         { o.RequireTenant = true }

func TestVerifyMapsTheRoleClaim(t *testing.T) {
	tests := []struct {
		name string
		role any // nil = claim absent
		want Role
	}{
		{"an absent role is user", nil, RoleUser},
		{"guest maps to the guest role", "guest", RoleGuest},
		{"user maps to the user role", "user", RoleUser},
		{"admin maps to the admin role", "admin", RoleAdmin},
	}
	v := hsVerifier(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validClaims()
			delete(c, "role")
			if tt.role != nil {
				c["role"] = tt.role
			}
			id, err := v.Verify(hsToken(t, c))
			require.NoError(t, err)
			assert.Equal(t, tt.want, id.Role)
		})
	}
}

func TestVerifyChecksTheSignatureBeforeTheClaims(t *testing.T) {
	// An expired token signed with the wrong key is a signature problem:
	// claims of a forged token are never judged.
	c := validClaims()
	c["exp"] = unix(-time.Hour)
	forged := signToken(t, jwt.SigningMethodHS256, []byte("another secret entirely, 32 bytes"), c, nil)
	_, err := hsVerifier(t, nil).Verify(forged)
	assert.Equal(t, ReasonBadSignature, failureReason(t, err))
}

func TestVerifyOnANilVerifierFailsClosed(t *testing.T) {
	var v *Verifier
	_, err := v.Verify(hsToken(t, validClaims()))
	assert.Equal(t, ReasonUnconfigured, failureReason(t, err))
}

func TestVerifierReportsItsSettings(t *testing.T) {
	v := hsVerifier(t, func(o *Options) { o.Algorithms = []string{"HS512", "HS256", "HS512"} })
	assert.Equal(t, []string{"HS512", "HS256"}, v.Algorithms(), "duplicates collapse, order kept")
	assert.Equal(t, 30*time.Second, v.Leeway())
}

func TestAVerifierIsSafeForConcurrentUse(t *testing.T) {
	k := testKeys(t)
	v := jwksVerifier(t, []string{"RS256", "EdDSA"},
		jwkOf(t, &k.rsa.PublicKey, "r", ""), jwkOf(t, k.ed.Public(), "e", ""))
	good := signToken(t, jwt.SigningMethodEdDSA, k.ed, validClaims(), kid("e"))
	bad := signToken(t, jwt.SigningMethodEdDSA, k.edOther, validClaims(), kid("e"))

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				if _, err := v.Verify(good); err != nil {
					errs <- err
					return
				}
				if _, err := v.Verify(bad); ReasonOf(err) != ReasonBadSignature {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
