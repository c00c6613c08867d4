package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRangeLimitsAreInclusive: the ends of a documented range are accepted
// and the next value out is refused.
func TestRangeLimitsAreInclusive(t *testing.T) {
	t.Run("the Redis batch linger up to its maximum", func(t *testing.T) {
		mustLoad(t, map[string]string{varRedisLinger: maxLinger.String()})
		mustLoad(t, map[string]string{varRedisLinger: "0s"})
		probs := problemsOf(t, map[string]string{varRedisLinger: (maxLinger + time.Millisecond).String()})
		assert.True(t, containsLine(probs, "is out of range 0s.."), "%q", probs)
	})
	t.Run("a Redis port from 1 to 65535", func(t *testing.T) {
		for _, port := range []string{"1", "65535"} {
			assert.Empty(t, checkRedisURL("redis://redis.internal:"+port+"/0"), port)
		}
		for _, port := range []string{"0", "65536"} {
			msg := checkRedisURL("redis://redis.internal:" + port + "/0")
			assert.True(t, strings.HasPrefix(msg, `port "`+port+`" is out of range 1..65535`), "%s: %s", port, msg)
		}
	})
}
