package config

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestARejectedValueIsQuotedUpToSixtyFourBytes: a message repeats at most
// 64 bytes of what it was given, cut on a character boundary.
func TestARejectedValueIsQuotedUpToSixtyFourBytes(t *testing.T) {
	exact := strings.Repeat("a", 64)
	assert.Equal(t, strconv.Quote(exact), quote(exact))
	assert.Equal(t, strconv.Quote(exact)+"...", quote(exact+"b"))
	assert.Equal(t, strconv.Quote(strings.Repeat("a", 63))+"...", quote(strings.Repeat("a", 63)+"é"+"tail"),
		"é straddles byte 64")
	assert.Equal(t, `""...`, quote(strings.Repeat("\x80", 70)),
		"a variable of stray continuation bytes has no character boundary to cut at but the start")
}

// TestWholeSecondDurationsReachTheLargestDuration: a bare integer counts
// seconds, up to the most a time.Duration holds either way.
func TestWholeSecondDurationsReachTheLargestDuration(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want time.Duration
		ok   bool
	}{
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", 0, false},
		{"-9223372036", -9223372036 * time.Second, true},
		{"-9223372037", 0, false},
	} {
		d, err := parseDuration(c.raw)
		if !c.ok {
			require.Error(t, err, c.raw)
			assert.Contains(t, err.Error(), "out of range for a duration", c.raw)
			continue
		}
		require.NoError(t, err, c.raw)
		assert.Equal(t, c.want, d, c.raw)
	}
}
