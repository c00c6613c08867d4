package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty stays empty", "", ""},
		{"no credentials is unchanged", "redis://h.example:6379/0", "redis://h.example:6379/0"},
		{"user and password keep the user", "redis://app:s3cret@h:6379/1", "redis://app:xxxxx@h:6379/1"},
		{"a password without user is redacted", "redis://:s3cret@h:6379", "redis://:xxxxx@h:6379"},
		{"a lone user part is redacted, some clients take it as the password", "redis://s3cret@h", "redis://xxxxx@h"},
		{"rediss is handled alike", "rediss://default:s3cret@h:6380", "rediss://default:xxxxx@h:6380"},
		{"an escaped password is redacted", "redis://:p%40ss%3Aw@h", "redis://:xxxxx@h"},
		{"a password query parameter is redacted", "redis://h/0?password=s3cret&dial_timeout=1s", "redis://h/0?dial_timeout=1s&password=xxxxx"},
		{"an unparsable URL is not printed", "redis://:s3cret@h:port", "<invalid url>"},
		{"host:port without scheme is not printed", "s3cret@h:6379", "<invalid url>"},
		{"an opaque URL is not printed", "redis:s3cret@h", "<invalid url>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactURL(tt.in)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "s3cret")
		})
	}
}

func TestPrintShowsEveryVariableInOrder(t *testing.T) {
	var b strings.Builder
	cfg := mustLoad(t, nil)
	require.NoError(t, cfg.Print(&b))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, len(Variables()))
	for i, name := range Variables() {
		assert.True(t, strings.HasPrefix(lines[i], name+"="), "line %d is %q", i, lines[i])
	}
	assert.Contains(t, lines, "ARQONBUS_SERVER_PORT=9100")
	assert.Contains(t, lines, "ARQONBUS_AUTH_JWT_SECRET=")
	assert.Contains(t, lines, "ARQONBUS_PING_INTERVAL=20s")
	assert.Contains(t, lines, "ARQONBUS_AUTH_JWT_ALGORITHMS=HS256")
}

func TestPrintNeverShowsASecret(t *testing.T) {
	const secret = "hmac-key-that-must-never-be-printed!"
	const pw = "redis-pass-never-printed"
	cfg := mustLoad(t, map[string]string{
		"ARQONBUS_AUTH_JWT_SECRET": secret,
		"ARQONBUS_STORAGE_BACKEND": "redis",
		"ARQONBUS_REDIS_URL":       "redis://app:" + pw + "@redis.internal:6379/2",
	})
	var b strings.Builder
	require.NoError(t, cfg.Print(&b))
	out := b.String()
	assert.NotContains(t, out, secret)
	assert.NotContains(t, out, pw)
	assert.Contains(t, out, "ARQONBUS_AUTH_JWT_SECRET=<redacted>\n")
	assert.Contains(t, out, "ARQONBUS_REDIS_URL=redis://app:xxxxx@redis.internal:6379/2\n")
}

func TestPrintedConfigLoadsBackToTheSameConfig(t *testing.T) {
	cfg := mustLoad(t, map[string]string{
		"ARQONBUS_ENVIRONMENT":         "staging",
		"ARQONBUS_SERVER_HOST":         "::1",
		"ARQONBUS_ALLOWED_ORIGINS":     "https://a.example,https://b.example",
		"ARQONBUS_AUTH_JWT_ALGORITHMS": "RS256,EdDSA",
		"ARQONBUS_AUTH_LEEWAY":         "90",
		"ARQONBUS_HISTORY_TTL":         "36h",
		"ARQONBUS_STORAGE_BACKEND":     "redis_streams",
		"ARQONBUS_REDIS_URL":           "redis://redis.internal:6379/3",
		"ARQONBUS_LOG_FORMAT":          "text",
	})
	var b strings.Builder
	require.NoError(t, cfg.Print(&b))
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok)
		env[k] = v
	}
	again := mustLoad(t, env)
	again.Explicit, cfg.Explicit = nil, nil
	assert.Equal(t, cfg, again)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestPrintReportsAWriteError(t *testing.T) {
	cfg := Default(ProfileDev)
	assert.ErrorContains(t, cfg.Print(failingWriter{}), "print config: disk full")
}

func TestAddr(t *testing.T) {
	c := Default(ProfileDev)
	assert.Equal(t, "127.0.0.1:9100", c.Addr())
	assert.Empty(t, c.HTTPAddr(), "the ops endpoints share the port by default")
	c.Host, c.Port, c.HTTPPort = "::1", 0, 9101
	assert.Equal(t, "[::1]:0", c.Addr())
	assert.Equal(t, "[::1]:9101", c.HTTPAddr())
	c.Host = ""
	assert.Equal(t, ":0", c.Addr(), "an empty host listens on every interface")
}
