//go:build e2e

package e2e

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// refusedHeader is the first stderr line of a configuration or preflight
// failure; the problems follow, one per line, indented.
var refusedHeader = regexp.MustCompile(`^arqonbus: (configuration|preflight) refused \((\d+) problem\(s\)\):$`)

// problems returns the problem lines of a refusal, checking that the count
// in the header matches the lines that follow it.
func problems(t *testing.T, stderr string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for i, l := range lines {
		m := refusedHeader.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		var out []string
		for _, p := range lines[i+1:] {
			if !strings.HasPrefix(p, "  ") {
				break
			}
			out = append(out, strings.TrimSpace(p))
		}
		require.Len(t, out, n, "the header counts %d problems; one line each follows", n)
		return out
	}
	t.Fatalf("no refusal header in stderr:\n%s", stderr)
	return nil
}

// strictProd is a prod configuration that passes the preflight, on port.
func strictProd(port string, extra ...string) []string {
	return append([]string{
		"ARQONBUS_ENVIRONMENT=prod",
		"ARQONBUS_SERVER_HOST=127.0.0.1",
		"ARQONBUS_SERVER_PORT=" + port,
		"ARQONBUS_STORAGE_MODE=degraded",
		"ARQONBUS_ENABLE_AUTH=true",
		"ARQONBUS_AUTH_JWT_SECRET=" + secret,
	}, extra...)
}

func TestStartupProblemsExitWithStatus2BeforeBindingAndNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  func(port string) []string
		args []string
		// want are substrings each problem list must hold; secrets must
		// appear nowhere in the output.
		want    []string
		secrets []string
	}{
		{
			name: "an unknown profile names the value and the accepted profiles",
			env:  func(p string) []string { return devEnv("ARQONBUS_ENVIRONMENT=qa", "ARQONBUS_SERVER_PORT="+p) },
			want: []string{"ARQONBUS_ENVIRONMENT", `"qa"`, "dev", "development", "staging", "stage", "prod", "production"},
		},
		{
			name: "an empty profile is refused rather than taken as dev",
			env:  func(p string) []string { return devEnv("ARQONBUS_ENVIRONMENT=", "ARQONBUS_SERVER_PORT="+p) },
			want: []string{"ARQONBUS_ENVIRONMENT", "accepted"},
		},
		{
			name: "a bad integer names the variable",
			env:  func(string) []string { return devEnv("ARQONBUS_SERVER_PORT=abc") },
			want: []string{"ARQONBUS_SERVER_PORT", "abc"},
		},
		{
			name: "a bad flag value names the variable and the flag",
			env:  func(p string) []string { return devEnv("ARQONBUS_SERVER_PORT=" + p) },
			args: []string{"serve", "--max-connections=ten"},
			want: []string{"ARQONBUS_MAX_CONNECTIONS", "--max-connections"},
		},
		{
			name: "every bad value is reported in one run",
			env: func(p string) []string {
				return devEnv("ARQONBUS_SERVER_PORT="+p, "ARQONBUS_MAX_CONNECTIONS=ten",
					"ARQONBUS_LOG_LEVEL=loud", "ARQONBUS_SHUTDOWN_TIMEOUT=soon", "ARQONBUS_ENABLE_AUTH=maybe")
			},
			want: []string{"ARQONBUS_MAX_CONNECTIONS", "ARQONBUS_LOG_LEVEL", "ARQONBUS_SHUTDOWN_TIMEOUT", "ARQONBUS_ENABLE_AUTH"},
		},
		{
			name: "an out of range value names the variable",
			env:  func(p string) []string { return devEnv("ARQONBUS_SERVER_PORT="+p, "ARQONBUS_MAX_MESSAGE_SIZE=10") },
			want: []string{"ARQONBUS_MAX_MESSAGE_SIZE", "1024"},
		},
		{
			name: "strict storage with an unreachable Redis names the URL without its password",
			env: func(p string) []string {
				return devEnv("ARQONBUS_SERVER_PORT="+p, "ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=strict",
					"ARQONBUS_REDIS_URL=redis://:hunter2redispass@127.0.0.1:1/0", "ARQONBUS_REDIS_TIMEOUT=1s")
			},
			want:    []string{"ARQONBUS_REDIS_URL", "127.0.0.1:1", "PING"},
			secrets: []string{"hunter2redispass"},
		},
		{
			name: "auth on without a key fails closed",
			env:  func(p string) []string { return devEnv("ARQONBUS_SERVER_PORT="+p, "ARQONBUS_ENABLE_AUTH=true") },
			want: []string{"ARQONBUS_AUTH_JWT_SECRET"},
		},
		{
			name: "staging refuses an HMAC secret under 32 bytes",
			env: func(p string) []string {
				return []string{"ARQONBUS_ENVIRONMENT=staging", "ARQONBUS_SERVER_HOST=127.0.0.1", "ARQONBUS_SERVER_PORT=" + p,
					"ARQONBUS_STORAGE_MODE=degraded", "ARQONBUS_ENABLE_AUTH=true", "ARQONBUS_AUTH_JWT_SECRET=short-secret-0123"}
			},
			want:    []string{"ARQONBUS_AUTH_JWT_SECRET must be at least 32 bytes"},
			secrets: []string{"short-secret-0123"},
		},
		{
			name: "the stage alias is as strict as staging",
			env: func(p string) []string {
				return []string{"ARQONBUS_ENVIRONMENT=STAGE", "ARQONBUS_SERVER_HOST=127.0.0.1", "ARQONBUS_SERVER_PORT=" + p,
					"ARQONBUS_STORAGE_MODE=degraded"}
			},
			want: []string{"ARQONBUS_ENABLE_AUTH must be true"},
		},
		{
			name: "dev asks for the strict preflight with PREFLIGHT_STRICT",
			env: func(p string) []string {
				return []string{"ARQONBUS_SERVER_PORT=" + p, "ARQONBUS_PREFLIGHT_STRICT=true"}
			},
			want: []string{"ARQONBUS_SERVER_HOST", "ARQONBUS_STORAGE_MODE", "ARQONBUS_ENABLE_AUTH"},
		},
		{
			name: "prod with strict storage and an unreachable Redis",
			env: func(p string) []string {
				return strictProd(p, "ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=strict",
					"ARQONBUS_REDIS_URL=redis://127.0.0.1:1", "ARQONBUS_REDIS_TIMEOUT=1s")
			},
			want:    []string{"ARQONBUS_REDIS_URL"},
			secrets: []string{secret},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testutil.FreePort(t)
			code, stdout, stderr := testutil.RunBinaryExit(t, tc.env(port(p)), tc.args...)
			assert.Equal(t, 2, code, "exit status")
			assert.NotContains(t, stdout, "listening")
			probs := strings.Join(problems(t, stderr), "\n")
			for _, w := range tc.want {
				assert.Contains(t, probs, w)
			}
			for _, s := range tc.secrets {
				assert.NotContains(t, stdout+stderr, s, "a secret reached the output")
			}
			assertPortFree(t, p)
		})
	}
}

func TestProductionWithNothingElseSetNamesEveryMissingVariable(t *testing.T) {
	t.Parallel()
	// The default address is 127.0.0.1:9100; it must stay unbound. Only
	// checked when nothing else holds it.
	defaultFree := false
	if l, err := net.Listen("tcp", "127.0.0.1:9100"); err == nil {
		_ = l.Close()
		defaultFree = true
	}
	code, stdout, stderr := testutil.RunBinaryExit(t, []string{"ARQONBUS_ENVIRONMENT=production"})
	assert.Equal(t, 2, code, "exit status")
	assert.NotContains(t, stdout, "listening")
	probs := problems(t, stderr)
	all := strings.Join(probs, "\n")
	for _, v := range []string{"ARQONBUS_SERVER_HOST", "ARQONBUS_SERVER_PORT", "ARQONBUS_STORAGE_MODE", "ARQONBUS_ENABLE_AUTH"} {
		assert.Contains(t, all, v)
	}
	for _, p := range probs {
		assert.Contains(t, p, "ARQONBUS_", "every problem names the variable to change: %q", p)
	}
	if defaultFree {
		assertPortFree(t, 9100)
	}

	t.Run("and the missing key in the same run", func(t *testing.T) {
		// Strict preflight: "auth enabled with a usable key". Fixing only
		// ARQONBUS_ENABLE_AUTH must not lead to a second round trip.
		assert.Contains(t, all, "ARQONBUS_AUTH_JWT_SECRET")
	})
}

func TestPreflightSubcommandExits0WhenReadyAnd2WhenMisconfigured(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{name: "dev with defaults", env: nil, code: 0, stdout: "preflight ok (profile dev, strict checks false)"},
		{name: "prod fully configured", env: strictProd("9100"), code: 0, stdout: "preflight ok (profile prod, strict checks true)"},
		{name: "prod missing everything", env: []string{"ARQONBUS_ENVIRONMENT=prod"}, code: 2, stderr: "ARQONBUS_ENABLE_AUTH must be true in prod"},
		{name: "prod with a short secret", env: strictProd("9100", "ARQONBUS_AUTH_JWT_SECRET=too-short"), code: 2,
			stderr: "ARQONBUS_AUTH_JWT_SECRET must be at least 32 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := testutil.RunBinaryExit(t, tc.env, "preflight")
			assert.Equal(t, tc.code, code, "exit status")
			assert.Contains(t, stdout, tc.stdout)
			assert.Contains(t, stderr, tc.stderr)
			assert.NotContains(t, stdout+stderr, secret)
			assert.NotContains(t, stdout, "listening")
		})
	}
}

func TestConfigPrintRedactsTheJWTSecretAndTheRedisPassword(t *testing.T) {
	t.Parallel()
	const redisPass = "r3dis-pa55word"
	code, stdout, stderr := testutil.RunBinaryExit(t, []string{
		"ARQONBUS_AUTH_JWT_SECRET=" + secret,
		"ARQONBUS_REDIS_URL=redis://app:" + redisPass + "@redis.internal:6379/2",
		"ARQONBUS_SERVER_PORT=9200",
	}, "config", "print")
	require.Equal(t, 0, code, "exit status; stderr:\n%s", stderr)
	assert.Contains(t, stdout, "ARQONBUS_AUTH_JWT_SECRET=<redacted>\n")
	assert.Contains(t, stdout, "ARQONBUS_REDIS_URL=redis://app:xxxxx@redis.internal:6379/2\n")
	assert.Contains(t, stdout, "ARQONBUS_SERVER_PORT=9200\n")
	assert.Contains(t, stdout, "ARQONBUS_ENVIRONMENT=dev\n")
	for _, s := range []string{secret, redisPass} {
		assert.NotContains(t, stdout+stderr, s)
	}
}

func TestFlagsWinOverVariables(t *testing.T) {
	t.Parallel()
	t.Run("in config print", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := testutil.RunBinaryExit(t,
			[]string{"ARQONBUS_SERVER_PORT=9200", "ARQONBUS_LOG_LEVEL=debug"},
			"config", "print", "--server-port=9300", "--log-level", "warn")
		require.Equal(t, 0, code, "exit status; stderr:\n%s", stderr)
		assert.Contains(t, stdout, "ARQONBUS_SERVER_PORT=9300\n")
		assert.Contains(t, stdout, "ARQONBUS_LOG_LEVEL=warn\n")
	})

	t.Run("when serving", func(t *testing.T) {
		t.Parallel()
		// The variable names a port this test holds: had it won, the bind
		// would fail. The flag asks for any free port.
		held, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer held.Close()
		heldPort := held.Addr().(*net.TCPAddr).Port

		p := testutil.RunBinary(t, devEnv("ARQONBUS_SERVER_PORT="+port(heldPort)), "serve", "--server-port=0")
		assert.NotEqual(t, "127.0.0.1:"+port(heldPort), p.Addr)
		testutil.Command(t, dial(t, p.URL), "ping", nil)
	})

	t.Run("a bad variable hidden by a flag is not even parsed", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := testutil.RunBinaryExit(t, []string{"ARQONBUS_SERVER_PORT=abc"}, "config", "print", "--server-port=9300")
		require.Equal(t, 0, code, "exit status; stderr:\n%s", stderr)
		assert.Contains(t, stdout, "ARQONBUS_SERVER_PORT=9300\n")
	})
}
