package auth

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
)

func TestReasonOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil has no reason", nil, ""},
		{"a failure gives its reason", &Failure{Reason: ReasonExpired}, ReasonExpired},
		{"a wrapped failure gives its reason", fmt.Errorf("handshake: %w", &Failure{Reason: ReasonBadRole}), ReasonBadRole},
		{"the missing-token sentinel is missing", ErrMissingToken, ReasonMissing},
		{"a wrapped missing-token sentinel is missing", fmt.Errorf("x: %w", ErrMissingToken), ReasonMissing},
		{"the too-large sentinel is too_large", ErrTokenTooLarge, ReasonTooLarge},
		{"any other error is invalid", errors.New("boom"), ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ReasonOf(tt.err))
		})
	}
}

func TestFailureReadsAsReasonThenDetailAndUnwraps(t *testing.T) {
	f := &Failure{Reason: ReasonTooLarge, Err: ErrTokenTooLarge}
	assert.Equal(t, "auth: too_large: token exceeds the size limit", f.Error())
	assert.ErrorIs(t, f, ErrTokenTooLarge)
	assert.Equal(t, "auth: missing", (&Failure{Reason: ReasonMissing}).Error())
}

func TestReasonsAreUniqueLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		assert.False(t, seen[r], "duplicate reason %q", r)
		assert.Regexp(t, `^[a-z_]+$`, r, "a reason is a metric label")
		seen[r] = true
	}
	assert.Len(t, seen, 22)
}

// The metric label must not tell a forger which check failed before the
// signature held: those reasons all read "invalid_token". "missing" and the
// claim reasons, which only a holder of a valid key reaches, keep their
// names for operators.
func TestLabelIsCoarseBeforeTheSignature(t *testing.T) {
	beforeSignature := []string{ReasonTooLarge, ReasonMalformed, ReasonUnsupportedHeader, ReasonBadAlgorithm,
		ReasonMissingKid, ReasonUnknownKid, ReasonBadSignature, ReasonInvalid}
	for _, r := range beforeSignature {
		assert.Equal(t, LabelInvalidToken, Label(r), r)
	}
	for _, r := range Reasons() {
		if !slices.Contains(beforeSignature, r) {
			assert.Equal(t, r, Label(r), "%s keeps its name", r)
		}
	}
	assert.ElementsMatch(t, []string{LabelInvalidToken, ReasonMissing, ReasonBadClaimType, ReasonMissingExp,
		ReasonExpired, ReasonNotYetValid, ReasonIssuedInFuture, ReasonBadIssuer, ReasonBadAudience, ReasonMissingSub,
		ReasonBadSub, ReasonMissingTenant, ReasonBadTenant, ReasonBadRole, ReasonUnconfigured}, Labels())
}

// Every claim reason a token signed with the wrong key could carry is
// decided after the signature: a forged token with expired, foreign-issuer
// or role-less claims is refused as a bad signature, so its label is the
// coarse one whatever its claims say.
func TestAForgedTokenIsRefusedForItsSignatureWhateverItsClaims(t *testing.T) {
	v := hsVerifier(t, func(o *Options) { o.Issuer = "https://issuer.example" })
	other := []byte("another-secret-of-at-least-32-bytes!!")
	for name, edit := range map[string]func(jwt.MapClaims){
		"expired":        func(c jwt.MapClaims) { c["exp"] = unix(-time.Hour) },
		"no exp":         func(c jwt.MapClaims) { delete(c, "exp") },
		"foreign issuer": func(c jwt.MapClaims) { c["iss"] = "https://other.example" },
		"bad role":       func(c jwt.MapClaims) { c["role"], c["iss"] = "root", "https://issuer.example" },
	} {
		claims := validClaims()
		edit(claims)
		_, err := v.Verify(signToken(t, jwt.SigningMethodHS256, other, claims, nil))
		assert.Equal(t, ReasonBadSignature, ReasonOf(err), name)
		assert.Equal(t, LabelInvalidToken, Label(ReasonOf(err)), name)
		// Control: the same claims with the right key reach the claim check.
		_, err = v.Verify(hsToken(t, claims))
		assert.NotEqual(t, LabelInvalidToken, Label(ReasonOf(err)), "%s with the right key is judged on its claims", name)
	}
}
