package config

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// strictRedisEnv is a dev configuration with strict Redis storage at url.
func strictRedisEnv(url string) map[string]string {
	return map[string]string{
		"ARQONBUS_STORAGE_MODE":    "strict",
		"ARQONBUS_STORAGE_BACKEND": "redis",
		"ARQONBUS_REDIS_URL":       url,
		"ARQONBUS_REDIS_TIMEOUT":   "5ms",
	}
}

// TestAPingThatAnswersOnlyAfterTheTimeoutHasNotAnswered: a PING function
// that ignores its context and reports success after the deadline has not
// proved that Redis answers in time.
func TestAPingThatAnswersOnlyAfterTheTimeoutHasNotAnswered(t *testing.T) {
	late := func(ctx context.Context, _ string, _ time.Duration) error {
		<-ctx.Done()
		return nil
	}
	_, err := Preflight(context.Background(), mustLoad(t, strictRedisEnv("redis://redis.internal:6379/0")), PreflightDeps{PingRedis: late})
	probs := asProblems(t, err)
	require.Len(t, probs, 1)
	assert.Contains(t, probs[0], "did not answer PING within 5ms")
	assert.Contains(t, probs[0], "context deadline exceeded")
}

// TestAPingErrorNeverShowsTheRedisPassword: the password is scrubbed from
// the error text however it appears there: as given, query-escaped or
// path-escaped, in the user part or in a password query parameter.
func TestAPingErrorNeverShowsTheRedisPassword(t *testing.T) {
	const pw = "p@ss/w rd+1"
	for _, c := range []struct{ name, url, echoed string }{
		{"as given", "redis://:p%40ss%2Fw%20rd+1@redis.internal:6379/0", pw},
		{"query-escaped", "redis://:p%40ss%2Fw%20rd+1@redis.internal:6379/0", "p%40ss%2Fw+rd%2B1"},
		{"path-escaped", "redis://:p%40ss%2Fw%20rd+1@redis.internal:6379/0", "p@ss%2Fw%20rd+1"},
		{"in a query parameter only", "redis://redis.internal:6379/0?password=p%40ss%2Fw+rd%2B1", pw},
	} {
		t.Run(c.name, func(t *testing.T) {
			refused := func(context.Context, string, time.Duration) error {
				return errors.New("dial redis with password " + c.echoed + ": connection refused")
			}
			_, err := Preflight(context.Background(), mustLoad(t, strictRedisEnv(c.url)), PreflightDeps{PingRedis: refused})
			probs := asProblems(t, err)
			require.Len(t, probs, 1)
			assert.Contains(t, probs[0], "dial redis with password <redacted>: connection refused")
			assert.NotContains(t, probs[0], c.echoed)
		})
	}
}
