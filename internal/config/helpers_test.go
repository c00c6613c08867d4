package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// strongSecret is a 32-byte HMAC key, the shortest staging and prod accept.
const strongSecret = "0123456789abcdef0123456789abcdef"

// envOf turns a map into a getenv function.
func envOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// mustLoad loads and fails the test on any problem.
func mustLoad(t testing.TB, env map[string]string, args ...string) *Config {
	t.Helper()
	cfg, err := Load(envOf(env), args)
	require.NoError(t, err)
	require.NotNil(t, cfg)
	return cfg
}

// problemsOf loads and returns the problem list, failing when there is none.
func problemsOf(t testing.TB, env map[string]string, args ...string) []string {
	t.Helper()
	cfg, err := Load(envOf(env), args)
	require.Error(t, err)
	require.Nil(t, cfg)
	return asProblems(t, err)
}

// asProblems unwraps a *Problems.
func asProblems(t testing.TB, err error) []string {
	t.Helper()
	var probs *Problems
	require.True(t, errors.As(err, &probs), "error %T is not *Problems: %v", err, err)
	require.NotEmpty(t, *probs)
	return *probs
}

// containsLine reports whether one of lines contains sub.
func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// prodEnv is a complete, valid prod environment.
func prodEnv() map[string]string {
	return map[string]string{
		"ARQONBUS_ENVIRONMENT":     "prod",
		"ARQONBUS_SERVER_HOST":     "0.0.0.0",
		"ARQONBUS_SERVER_PORT":     "9100",
		"ARQONBUS_HTTP_PORT":       "9101", // the ops endpoints off the public port
		"ARQONBUS_STORAGE_MODE":    "degraded",
		"ARQONBUS_ENABLE_AUTH":     "true",
		"ARQONBUS_AUTH_JWT_SECRET": strongSecret,
	}
}
