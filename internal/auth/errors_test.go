package auth

import (
	"errors"
	"fmt"
	"testing"

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
