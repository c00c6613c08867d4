package auth

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTheTokenSizeLimitIsInclusiveEverywhere: a token of exactly
// MaxTokenSize bytes passes the size check of the query parameter and of
// Verify; one byte more is too large in both.
func TestTheTokenSizeLimitIsInclusiveEverywhere(t *testing.T) {
	exact := strings.Repeat("a", MaxTokenSize)
	over := exact + "a"

	r := httptest.NewRequest("GET", "/ws?token="+exact, nil)
	tok, err := TokenFromRequest(r, true)
	require.NoError(t, err)
	assert.Equal(t, exact, tok)
	_, err = TokenFromRequest(httptest.NewRequest("GET", "/ws?token="+over, nil), true)
	assert.ErrorIs(t, err, ErrTokenTooLarge)

	v := hsVerifier(t, nil)
	_, err = v.Verify(exact)
	assert.Equal(t, ReasonMalformed, failureReason(t, err), "judged by its shape, not its size")
	_, err = v.Verify(over)
	assert.Equal(t, ReasonTooLarge, failureReason(t, err))
}

func TestAMalformedTokenCountsItsSegments(t *testing.T) {
	v := hsVerifier(t, nil)
	for token, want := range map[string]string{
		"abc":     "token has 1 segments, want 3",
		"a.b":     "token has 2 segments, want 3",
		"a.b.c.d": "token has 4 segments, want 3",
	} {
		_, err := v.Verify(token)
		assert.Equal(t, ReasonMalformed, failureReason(t, err), token)
		assert.Contains(t, err.Error(), want, token)
	}
}

// TestARefusedAlgorithmIsNamedOnlyWhenItIsKnown: the refusal names a known
// algorithm, and a near miss with a hint, but never echoes arbitrary input.
func TestARefusedAlgorithmIsNamedOnlyWhenItIsKnown(t *testing.T) {
	assert.Equal(t, "RS256", safeAlg("RS256"))
	assert.Equal(t, `"rs256" (names are case-sensitive)`, safeAlg("rs256"))
	assert.Equal(t, "(unknown)", safeAlg("<script>"))
}
