package config

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEditDistanceCountsInsertionsDeletionsAndChanges(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"abc", "abd", 1},
		{"abc", "abcd", 1},
		{"abcd", "abc", 1},
		{"ab", "ba", 2},
		{"kitten", "sitting", 3},
	} {
		assert.Equal(t, c.want, editDistance(c.a, c.b), "%q → %q", c.a, c.b)
	}
}

// TestAnUnknownVariableGetsASuggestionWithinThreeEdits: a misspelt variable
// is answered with the closest known one, but only within three edits.
func TestAnUnknownVariableGetsASuggestionWithinThreeEdits(t *testing.T) {
	assert.Equal(t, "ARQONBUS_SERVER_PORT", suggest("ARQONBUS_SERVER_PORX"), "one edit")
	assert.Equal(t, "ARQONBUS_SERVER_PORT", suggest("ARQONBUS_SERVER_PXXX"), "three edits")
	assert.Empty(t, suggest("ARQONBUS_SERVER_XXXX"), "four edits from every variable")
}

func TestUsageSaysEmptyForAnEmptyDefault(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	assert.Contains(t, b.String(), "--allowed-origins (ARQONBUS_ALLOWED_ORIGINS, list, default empty)")
	assert.Contains(t, b.String(), "--server-port (ARQONBUS_SERVER_PORT, int, default 9100)")
}
