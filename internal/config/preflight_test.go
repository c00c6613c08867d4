package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pingOK is a PingRedis that always answers.
func pingOK(context.Context, string, time.Duration) error { return nil }

// keyFile writes a file in a temporary directory and returns its path.
func keyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pub.pem")
	require.NoError(t, os.WriteFile(p, []byte("-----BEGIN PUBLIC KEY-----\n"), 0o600))
	return p
}

func TestPreflightPassesTheDefaultsInDev(t *testing.T) {
	warnings, err := Preflight(context.Background(), mustLoad(t, nil), PreflightDeps{})
	assert.NoError(t, err)
	assert.Empty(t, warnings)
}

func TestPreflightPassesACompleteProdConfig(t *testing.T) {
	called := false
	deps := PreflightDeps{PingRedis: pingOK, CheckAuth: func(*Config) error { called = true; return nil }}
	warnings, err := Preflight(context.Background(), mustLoad(t, prodEnv()), deps)
	assert.NoError(t, err)
	assert.Empty(t, warnings)
	assert.True(t, called, "CheckAuth runs for the deeper key checks")
}

func TestPreflightInProdCollectsEveryProblem(t *testing.T) {
	cfg := mustLoad(t, map[string]string{"ARQONBUS_ENVIRONMENT": "production"})
	_, err := Preflight(context.Background(), cfg, PreflightDeps{})
	assert.Equal(t, []string{
		"ARQONBUS_SERVER_HOST must be set explicitly in prod (flag --server-host)",
		"ARQONBUS_SERVER_PORT must be set explicitly in prod (flag --server-port)",
		"ARQONBUS_STORAGE_MODE must be set explicitly in prod (flag --storage-mode)",
		"ARQONBUS_ENABLE_AUTH must be true in prod",
		"ARQONBUS_AUTH_JWT_SECRET, ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE or ARQONBUS_AUTH_JWKS_FILE must be set: no key is configured, so no token could be verified",
	}, asProblems(t, err), "one run names every variable to set, the key included")
}

func TestPreflightStrictChecks(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an empty host set explicitly counts as set in staging", map[string]string{"ARQONBUS_ENVIRONMENT": "stage", "ARQONBUS_SERVER_HOST": ""},
			""},
		{"a short secret is refused in prod", map[string]string{"ARQONBUS_AUTH_JWT_SECRET": "short"},
			"ARQONBUS_AUTH_JWT_SECRET must be at least 32 bytes in prod"},
		{"a 31-byte secret is refused", map[string]string{"ARQONBUS_AUTH_JWT_SECRET": strongSecret[:31]},
			"ARQONBUS_AUTH_JWT_SECRET must be at least 32 bytes in prod"},
		{"a short secret is refused in staging", map[string]string{"ARQONBUS_ENVIRONMENT": "staging", "ARQONBUS_AUTH_JWT_SECRET": "short"},
			"ARQONBUS_AUTH_JWT_SECRET must be at least 32 bytes in staging"},
		{"a short secret is refused in dev under PREFLIGHT_STRICT", map[string]string{"ARQONBUS_ENVIRONMENT": "dev", "ARQONBUS_PREFLIGHT_STRICT": "true", "ARQONBUS_AUTH_JWT_SECRET": "short"},
			"ARQONBUS_AUTH_JWT_SECRET must be at least 32 bytes under ARQONBUS_PREFLIGHT_STRICT=true"},
		{"auth off is refused in staging", map[string]string{"ARQONBUS_ENVIRONMENT": "staging", "ARQONBUS_ENABLE_AUTH": "false"},
			"ARQONBUS_ENABLE_AUTH must be true in staging"},
		{"a storage mode left to its default is refused", map[string]string{"ARQONBUS_STORAGE_MODE": ""},
			"ARQONBUS_STORAGE_MODE must be set explicitly in prod (flag --storage-mode)"},
		{"query tokens in prod only when set explicitly", map[string]string{"ARQONBUS_AUTH_ALLOW_QUERY_TOKEN": "true"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := prodEnv()
			for k, v := range tt.env {
				if v == "" && k != "ARQONBUS_SERVER_HOST" {
					delete(env, k)
					continue
				}
				env[k] = v
			}
			_, err := Preflight(context.Background(), mustLoad(t, env), PreflightDeps{PingRedis: pingOK})
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			probs := asProblems(t, err)
			assert.Equal(t, []string{tt.want}, probs)
		})
	}
}

func TestPreflightQueryTokensInProd(t *testing.T) {
	cfg := mustLoad(t, map[string]string{
		"ARQONBUS_ENVIRONMENT": "prod", "ARQONBUS_SERVER_HOST": "0.0.0.0", "ARQONBUS_SERVER_PORT": "9100",
		"ARQONBUS_STORAGE_MODE": "degraded", "ARQONBUS_ENABLE_AUTH": "true", "ARQONBUS_AUTH_JWT_SECRET": strongSecret,
		"ARQONBUS_AUTH_ALLOW_QUERY_TOKEN": "on", "ARQONBUS_HTTP_PORT": "9101",
	})
	warnings, err := Preflight(context.Background(), cfg, PreflightDeps{})
	require.NoError(t, err)
	assert.Equal(t, []string{"ARQONBUS_AUTH_ALLOW_QUERY_TOKEN=true in prod: tokens in URLs can end up in proxy and access logs"}, warnings)

	// A hand-built config that turned them on without saying so.
	delete(cfg.Explicit, "ARQONBUS_AUTH_ALLOW_QUERY_TOKEN")
	_, err = Preflight(context.Background(), cfg, PreflightDeps{})
	assert.Equal(t, []string{"ARQONBUS_AUTH_ALLOW_QUERY_TOKEN must be set explicitly to accept query-string tokens in prod"}, asProblems(t, err))
}

func TestPreflightWarnsAboutOpenPrototypeLanes(t *testing.T) {
	env := prodEnv()
	env["ARQONBUS_ENABLE_PROTOTYPE_RSI"] = "true"
	cfg := mustLoad(t, env)
	warnings, err := Preflight(context.Background(), cfg, PreflightDeps{})
	require.NoError(t, err)
	assert.Equal(t, []string{"ARQONBUS_ENABLE_PROTOTYPE_RSI=true: the experimental prototype lanes are open in prod"}, warnings)
	assert.True(t, cfg.PrototypeLanesOpen())

	dev := mustLoad(t, map[string]string{"ARQONBUS_ENABLE_PROTOTYPE_RSI": "true"})
	warnings, err = Preflight(context.Background(), dev, PreflightDeps{})
	require.NoError(t, err)
	assert.Empty(t, warnings, "in dev the lanes are open anyway")
}

// On the WebSocket port the ops endpoints answer anyone who can reach the
// bus; in prod that is worth a warning (not a failure: a private network
// may be the protection), unless a port of their own or a token guards them.
func TestPreflightWarnsWhenProdServesOpenOpsEndpointsOnThePublicPort(t *testing.T) {
	const want = "ARQONBUS_HTTP_PORT=0 and ARQONBUS_OPS_TOKEN is empty in prod: /metrics and /status are unauthenticated on the public WebSocket port; " +
		"set ARQONBUS_HTTP_PORT to serve them on a private interface, or ARQONBUS_OPS_TOKEN to require a bearer token"
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"shared port and no token in prod warns", map[string]string{"ARQONBUS_HTTP_PORT": "0"}, []string{want}},
		{"shared port with a token in prod is quiet", map[string]string{"ARQONBUS_HTTP_PORT": "0", "ARQONBUS_OPS_TOKEN": "an-ops-token-of-32-bytes-or-so.."}, nil},
		{"a port of their own in prod is quiet", map[string]string{"ARQONBUS_HTTP_PORT": "9101"}, nil},
		{"shared port and no token in staging is quiet", map[string]string{"ARQONBUS_HTTP_PORT": "0", "ARQONBUS_ENVIRONMENT": "staging"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := prodEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			warnings, err := Preflight(context.Background(), mustLoad(t, env), PreflightDeps{})
			require.NoError(t, err, "a warning, never a failure")
			assert.Equal(t, tt.want, warnings)
		})
	}
}

func TestPreflightStrictStorageNeedsRedisInEveryProfile(t *testing.T) {
	const pw = "redis-password-123"
	redisEnv := func(profile string) map[string]string {
		env := prodEnv()
		env["ARQONBUS_ENVIRONMENT"] = profile
		env["ARQONBUS_STORAGE_MODE"] = "strict"
		env["ARQONBUS_STORAGE_BACKEND"] = "redis"
		env["ARQONBUS_REDIS_URL"] = "redis://:" + pw + "@redis.internal:6379/0"
		env["ARQONBUS_REDIS_TIMEOUT"] = "50ms"
		return env
	}
	for _, profile := range []string{"dev", "staging", "prod"} {
		t.Run("an unreachable Redis stops "+profile, func(t *testing.T) {
			var gotURL string
			var gotTimeout time.Duration
			ping := func(ctx context.Context, url string, timeout time.Duration) error {
				gotURL, gotTimeout = url, timeout
				_, hasDeadline := ctx.Deadline()
				assert.True(t, hasDeadline)
				return errors.New("dial tcp redis://:" + pw + "@redis.internal:6379: connection refused")
			}
			_, err := Preflight(context.Background(), mustLoad(t, redisEnv(profile)), PreflightDeps{PingRedis: ping})
			probs := asProblems(t, err)
			require.Len(t, probs, 1)
			assert.Contains(t, probs[0], "ARQONBUS_REDIS_URL: Redis at redis://:xxxxx@redis.internal:6379/0 did not answer PING within 50ms")
			assert.Contains(t, probs[0], "connection refused")
			assert.NotContains(t, probs[0], pw)
			assert.Equal(t, "redis://:"+pw+"@redis.internal:6379/0", gotURL)
			assert.Equal(t, 50*time.Millisecond, gotTimeout)
		})
	}
	t.Run("a Redis that answers passes", func(t *testing.T) {
		_, err := Preflight(context.Background(), mustLoad(t, redisEnv("prod")), PreflightDeps{PingRedis: pingOK})
		assert.NoError(t, err)
	})
	t.Run("a Redis slower than the timeout fails", func(t *testing.T) {
		slow := func(ctx context.Context, _ string, _ time.Duration) error {
			<-ctx.Done()
			return ctx.Err()
		}
		_, err := Preflight(context.Background(), mustLoad(t, redisEnv("dev")), PreflightDeps{PingRedis: slow})
		assert.Contains(t, err.Error(), "did not answer PING within 50ms")
	})
	t.Run("a missing PingRedis fails closed", func(t *testing.T) {
		_, err := Preflight(context.Background(), mustLoad(t, redisEnv("dev")), PreflightDeps{})
		assert.Contains(t, err.Error(), "ARQONBUS_REDIS_URL: Redis at redis://:xxxxx@redis.internal:6379/0 cannot be checked")
	})
	t.Run("degraded mode does not ping", func(t *testing.T) {
		env := redisEnv("dev")
		env["ARQONBUS_STORAGE_MODE"] = "degraded"
		ping := func(context.Context, string, time.Duration) error { t.Error("degraded mode must not ping"); return nil }
		_, err := Preflight(context.Background(), mustLoad(t, env), PreflightDeps{PingRedis: ping})
		assert.NoError(t, err)
	})
}

func TestPreflightAuthFailsClosedInEveryProfile(t *testing.T) {
	pub := keyFile(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name string
		env  map[string]string
		want []string // nil means no problem
	}{
		{"auth on without any key is refused", map[string]string{},
			[]string{"ARQONBUS_AUTH_JWT_SECRET, ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE or ARQONBUS_AUTH_JWKS_FILE must be set: no key is configured"}},
		{"a secret with HS256 is usable", map[string]string{"ARQONBUS_AUTH_JWT_SECRET": strongSecret}, nil},
		{"a public key with RS256 is usable", map[string]string{"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE": pub, "ARQONBUS_AUTH_JWT_ALGORITHMS": "RS256"}, nil},
		{"a JWK set with ES256 is usable", map[string]string{"ARQONBUS_AUTH_JWKS_FILE": pub, "ARQONBUS_AUTH_JWT_ALGORITHMS": "ES256"}, nil},
		{"a missing key file is refused", map[string]string{"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE": missing, "ARQONBUS_AUTH_JWT_ALGORITHMS": "RS256"},
			[]string{`ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: cannot read "` + missing + `": no such file or directory`}},
		{"a directory is not a key file", map[string]string{"ARQONBUS_AUTH_JWKS_FILE": filepath.Dir(pub), "ARQONBUS_AUTH_JWT_ALGORITHMS": "RS256"},
			[]string{"ARQONBUS_AUTH_JWKS_FILE: " + strconv.Quote(filepath.Dir(pub)) + " is not a regular file"}},
		{"a public key with only HMAC allowed is refused", map[string]string{"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE": pub},
			[]string{"ARQONBUS_AUTH_JWT_SECRET must be set: ARQONBUS_AUTH_JWT_ALGORITHMS (HS256) allows only HMAC algorithms, which never verify with a public key"}},
		{"a secret with only RSA allowed is refused", map[string]string{"ARQONBUS_AUTH_JWT_SECRET": strongSecret, "ARQONBUS_AUTH_JWT_ALGORITHMS": "RS256,PS256"},
			[]string{"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE or ARQONBUS_AUTH_JWKS_FILE must be set: ARQONBUS_AUTH_JWT_ALGORITHMS (RS256,PS256) allows no HMAC algorithm"}},
		{"an invalid algorithm list is reported once, by Validate", map[string]string{"ARQONBUS_AUTH_JWT_ALGORITHMS": "none"}, nil},
	}
	for _, profile := range []string{"dev", "prod"} {
		for _, tt := range tests {
			t.Run(profile+": "+tt.name, func(t *testing.T) {
				env := prodEnv()
				delete(env, "ARQONBUS_AUTH_JWT_SECRET")
				env["ARQONBUS_ENVIRONMENT"] = profile
				for k, v := range tt.env {
					env[k] = v
				}
				cfg := Default(profile)
				for k, v := range env {
					if k != varEnvironment {
						require.NoError(t, settingsByName[k].set(&cfg, v))
					}
					cfg.Explicit[k] = true
				}
				_, err := Preflight(context.Background(), &cfg, PreflightDeps{})
				if tt.name == "an invalid algorithm list is reported once, by Validate" {
					assert.Equal(t, []string{`ARQONBUS_AUTH_JWT_ALGORITHMS: "none" is never accepted: unsigned tokens would authenticate anyone`}, asProblems(t, err))
					return
				}
				if tt.want == nil {
					assert.NoError(t, err)
					return
				}
				probs := asProblems(t, err)
				require.Len(t, probs, len(tt.want), "%q", probs)
				for i, w := range tt.want {
					assert.Contains(t, probs[i], w)
				}
			})
		}
	}
}

func TestPreflightWarnsAboutWeakOrUnusedSecretsInDev(t *testing.T) {
	cfg := mustLoad(t, map[string]string{"ARQONBUS_ENABLE_AUTH": "true", "ARQONBUS_AUTH_JWT_SECRET": "dev"})
	warnings, err := Preflight(context.Background(), cfg, PreflightDeps{})
	require.NoError(t, err)
	assert.Equal(t, []string{"ARQONBUS_AUTH_JWT_SECRET is shorter than 32 bytes; staging and prod refuse it"}, warnings)

	cfg = mustLoad(t, map[string]string{"ARQONBUS_ENABLE_AUTH": "true", "ARQONBUS_AUTH_JWT_SECRET": strongSecret,
		"ARQONBUS_AUTH_JWT_ALGORITHMS": "EdDSA", "ARQONBUS_AUTH_JWKS_FILE": keyFile(t)})
	warnings, err = Preflight(context.Background(), cfg, PreflightDeps{})
	require.NoError(t, err)
	assert.Equal(t, []string{"ARQONBUS_AUTH_JWT_SECRET is set but ARQONBUS_AUTH_JWT_ALGORITHMS allows no HMAC algorithm; the secret is unused"}, warnings)
}

func TestPreflightCheckAuth(t *testing.T) {
	t.Run("its findings are problems that name a variable and never the secret", func(t *testing.T) {
		check := func(*Config) error {
			return errors.Join(errors.New("key "+strongSecret+" is weak"), errors.New("ARQONBUS_AUTH_ISSUER: looks odd"))
		}
		_, err := Preflight(context.Background(), mustLoad(t, prodEnv()), PreflightDeps{CheckAuth: check})
		assert.Equal(t, []string{
			"ARQONBUS_AUTH_JWT_SECRET: key <redacted> is weak",
			"ARQONBUS_AUTH_ISSUER: looks odd",
		}, asProblems(t, err))
	})
	t.Run("a key file finding names the key file", func(t *testing.T) {
		env := prodEnv()
		env["ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE"] = keyFile(t)
		env["ARQONBUS_AUTH_JWT_ALGORITHMS"] = "RS256"
		delete(env, "ARQONBUS_AUTH_JWT_SECRET")
		check := func(*Config) error { return errors.New("not a PEM block") }
		_, err := Preflight(context.Background(), mustLoad(t, env), PreflightDeps{CheckAuth: check})
		assert.Equal(t, []string{"ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE: not a PEM block"}, asProblems(t, err))
	})
	t.Run("it is not called when the basic key checks fail", func(t *testing.T) {
		env := prodEnv()
		delete(env, "ARQONBUS_AUTH_JWT_SECRET")
		check := func(*Config) error { t.Error("CheckAuth must not run without a usable key"); return nil }
		_, err := Preflight(context.Background(), mustLoad(t, env), PreflightDeps{CheckAuth: check})
		require.Error(t, err)
	})
	t.Run("it is not called with auth off", func(t *testing.T) {
		check := func(*Config) error { t.Error("CheckAuth must not run with auth off"); return nil }
		_, err := Preflight(context.Background(), mustLoad(t, nil), PreflightDeps{CheckAuth: check})
		require.NoError(t, err)
	})
}

func TestPreflightIncludesValidateProblems(t *testing.T) {
	cfg := Default(ProfileDev)
	cfg.Port = 70000
	_, err := Preflight(context.Background(), &cfg, PreflightDeps{})
	assert.Equal(t, []string{"ARQONBUS_SERVER_PORT: 70000 is out of range 0..65535"}, asProblems(t, err))
}

func TestPreflightProblemsAllNameAVariable(t *testing.T) {
	cfg := Default("qa")
	cfg.EnableAuth = true
	cfg.AllowedOrigins = []string{"*"}
	cfg.StorageMode = ModeStrict
	cfg.AuthJWTSecret = "x"
	cfg.AuthJWTPublicKeyFile = "/nonexistent/key.pem"
	cfg.AuthAllowQueryToken = true
	_, err := Preflight(context.Background(), &cfg, PreflightDeps{})
	probs := asProblems(t, err)
	assert.GreaterOrEqual(t, len(probs), 7, "%q", probs)
	for _, p := range probs {
		assert.Regexp(t, `^ARQONBUS_[A-Z_]+`, p)
	}
}
