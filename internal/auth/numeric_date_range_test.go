package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNumericDatesUpToTheYear9999AreInRange: exp, nbf and iat may reach
// ±253402300799 (9999-12-31T23:59:59Z) and no further.
func TestNumericDatesUpToTheYear9999AreInRange(t *testing.T) {
	v := hsVerifier(t, nil)
	for _, c := range []struct {
		name  string
		claim string
		value float64
		ok    bool
	}{
		{"exp at the last second of 9999", "exp", 253402300799, true},
		{"exp one second later", "exp", 253402300800, false},
		{"nbf at the negative bound", "nbf", -253402300799, true},
		{"nbf one second past it", "nbf", -253402300800, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims := validClaims()
			claims[c.claim] = c.value
			_, err := v.Verify(hsToken(t, claims))
			if c.ok {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, ReasonBadClaimType, failureReason(t, err))
			assert.Contains(t, err.Error(), c.claim+" is out of range")
		})
	}
}
