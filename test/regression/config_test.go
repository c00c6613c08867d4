package regression

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// loopback is the part of an environment that makes a serve run bind
// 127.0.0.1 on a free port, so a run that should have been refused cannot
// collide with anything.
var loopback = []string{"ARQONBUS_SERVER_HOST=127.0.0.1", "ARQONBUS_SERVER_PORT=0"}

// The Python server closed the experimental lanes only when the environment
// was spelled exactly "production", so "prod", "staging" or "Stage" left
// them open in real deployments. Now the profile is normalised first and
// the lanes are closed in staging and prod under every alias and case
// (unless ARQONBUS_ENABLE_PROTOTYPE_RSI=true), open in dev; a closed lane
// answers FEATURE_DISABLED (SPEC §4, §6).
func TestRegression_PrototypeLanesAreClosedInStagingAndProdUnderEveryAlias(t *testing.T) {
	closed := []string{"prod", "production", "PROD", " Production ", "staging", "stage", "STAGE", "Staging\t"}
	open := []string{"dev", "development", "DEV", " Development "}
	load := func(environ ...string) *config.Config {
		cfg, err := config.LoadEnviron(environ, nil)
		require.NoError(t, err, "load %q", environ)
		return cfg
	}
	for _, alias := range closed {
		env := "ARQONBUS_ENVIRONMENT=" + alias
		assert.False(t, load(env).PrototypeLanesOpen(), "%q must close the prototype lanes", alias)
		assert.True(t, load(env, "ARQONBUS_ENABLE_PROTOTYPE_RSI=true").PrototypeLanesOpen(),
			"%q with ARQONBUS_ENABLE_PROTOTYPE_RSI=true opens them", alias)
	}
	for _, alias := range open {
		assert.True(t, load("ARQONBUS_ENVIRONMENT="+alias).PrototypeLanesOpen(), "%q keeps them open", alias)
	}

	// On the wire: every lane answers FEATURE_DISABLED, and in staging and
	// prod it says the lanes are closed in this profile.
	ask := func(t *testing.T, s *testutil.Server) (cmdReply, joinReply map[string]any) {
		c := dialRaw(t, s.URL, nil)
		cmdReply, _ = c.roundTrip(`{"id":"lane","type":"command","command":"op.task.get"}`)
		joinReply, _ = c.roundTrip(`{"id":"join","type":"operator.join","payload":{"operator":"x"}}`)
		return cmdReply, joinReply
	}
	for _, alias := range []string{"production", "prod", "stage", "staging"} {
		t.Run(alias, func(t *testing.T) {
			s := testutil.StartServer(t, fromEnviron(t, "ARQONBUS_ENVIRONMENT="+alias))
			cmd, join := ask(t, s)
			for what, r := range map[string]map[string]any{"op.task.get": cmd, "operator.join": join} {
				assert.Equal(t, string(protocol.CodeFeatureDisabled), r["error_code"], "%s in %s: %v", what, alias, r)
				assert.Contains(t, r["error"], "closed", "%s in %s: %v", what, alias, r)
			}
		})
	}
	t.Run("dev control", func(t *testing.T) {
		// In dev the lane is open: the same frames reach the lane itself
		// (op.task.get without its argument fails validation, the join
		// with no group too), so the gate is what refused them above.
		cmd, join := ask(t, testutil.StartServer(t))
		for what, r := range map[string]map[string]any{"op.task.get": cmd, "operator.join": join} {
			assert.Equal(t, string(protocol.CodeValidation), r["error_code"], "%s in dev: %v", what, r)
			assert.NotContains(t, r["error"], "closed", "%s open in dev: %v", what, r)
		}
	})
}

// The Python server printed the Redis URL as given, password included, in
// its configuration dump and in its startup errors, where anyone reading a
// terminal or a log could copy it. Now `arqonbus config print`, preflight and startup errors,
// logs and /status never show the password, in either URL form
// (user:password@ or a lone password@) (SPEC §6, §9).
func TestRegression_RedisPasswordIsRedactedEverywhere(t *testing.T) {
	const pw = "Hunter2s3cretPW"
	check := func(t *testing.T, what, text string) {
		t.Helper()
		assert.NotContains(t, text, pw, "%s shows the Redis password:\n%s", what, text)
	}

	t.Run("config print", func(t *testing.T) {
		for _, u := range []string{"redis://app:" + pw + "@redis.internal:6379/0", "redis://:" + pw + "@redis.internal:6379/0",
			"redis://" + pw + "@redis.internal:6379/0", "rediss://app:" + pw + "@redis.internal:6380/1?dial_timeout=1s"} {
			code, out, stderr := runApp(t, []string{"ARQONBUS_REDIS_URL=" + u}, "config", "print")
			require.Equal(t, 0, code, "config print %s\n%s", u, stderr)
			check(t, "config print", out+stderr)
			assert.Regexp(t, `(?m)^ARQONBUS_REDIS_URL=rediss?://.*redis\.internal:63\d\d/\d`, out, "the rest of the URL is shown")
		}
	})

	t.Run("preflight with Redis down", func(t *testing.T) {
		env := append([]string{"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=strict",
			"ARQONBUS_REDIS_URL=" + deadRedisURL(t, "app:"+pw+"@"), "ARQONBUS_REDIS_TIMEOUT=300ms"}, loopback...)
		for _, cmd := range []string{"preflight", "serve"} {
			code, out, stderr := runApp(t, env, cmd)
			assert.Equal(t, 2, code, "%s with strict storage and Redis down exits 2\n%s", cmd, stderr)
			assert.Contains(t, stderr, "ARQONBUS_REDIS_URL", cmd)
			check(t, cmd, out+stderr)
		}
	})

	t.Run("invalid URL", func(t *testing.T) {
		for _, u := range []string{"redis://:" + pw + "@127.0.0.1:99999/0", "http://app:" + pw + "@127.0.0.1:6379/0",
			"redis://app:" + pw + "@127.0.0.1:6379/db"} {
			code, out, stderr := runApp(t, append([]string{"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_REDIS_URL=" + u}, loopback...), "serve")
			assert.Equal(t, 2, code, "%s\n%s", u, stderr)
			assert.Contains(t, stderr, "ARQONBUS_REDIS_URL", u)
			check(t, "startup error", out+stderr)
		}
	})

	t.Run("degraded start logs and status", func(t *testing.T) {
		p := startApp(t, append([]string{"ARQONBUS_STORAGE_BACKEND=redis", "ARQONBUS_STORAGE_MODE=degraded",
			"ARQONBUS_REDIS_URL=" + deadRedisURL(t, ":"+pw+"@"), "ARQONBUS_REDIS_TIMEOUT=300ms",
			"ARQONBUS_LOG_LEVEL=debug"}, loopback...), "serve")
		c := testutil.DialURL(t, "ws://"+p.Addr+"/ws")
		testutil.Publish(t, c, "r", "c", map[string]int{"n": 1})
		_, status := p.get(t, "/status")
		check(t, "/status", status)
		check(t, "the status command", fmt.Sprint(testutil.Command(t, c, "status", nil)))
		require.Equal(t, 0, p.stop(t))
		check(t, "the log", p.stdout.String()+p.stderr.String())
	})
}

// The old server did not check its production configuration before
// binding, so a deploy that was about to be refused could already hold the
// port and accept connections. Now the strict preflight runs first: a misconfigured prod start exits 2 with every
// problem and never binds; the port it was given stays free, and a port
// already taken does not even get tried (SPEC §6).
func TestRegression_PreflightRunsBeforeAnyPortIsBound(t *testing.T) {
	port := testutil.FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := []string{
		"ARQONBUS_ENVIRONMENT=production", "ARQONBUS_SERVER_HOST=127.0.0.1",
		"ARQONBUS_SERVER_PORT=" + strconv.Itoa(port), "ARQONBUS_STORAGE_MODE=degraded",
		// ARQONBUS_ENABLE_AUTH is missing: prod refuses to start without it.
	}
	code, out, stderr := runApp(t, env, "serve")
	assert.Equal(t, 2, code, "stderr:\n%s", stderr)
	assert.Contains(t, stderr, "preflight")
	assert.Contains(t, stderr, "ARQONBUS_ENABLE_AUTH must be true in prod")
	assert.NotContains(t, out, "listening", "it never served")
	require.NoError(t, portFree(addr), "the port it was told to use is free")

	// With the port taken, a server that bound first would fail to listen
	// (exit 1); the preflight answers before any bind is attempted.
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	defer l.Close()
	code, _, stderr = runApp(t, env, "serve")
	assert.Equal(t, 2, code, "stderr:\n%s", stderr)
	assert.Contains(t, stderr, "ARQONBUS_ENABLE_AUTH")
	assert.NotContains(t, stderr, "address already in use", "no bind was attempted")
	assert.NotContains(t, stderr, "listen on", "no bind was attempted")
}

// Invalid configuration values used to crash the Python server or be
// silently ignored, so a typo either took the node down with a stack trace
// or left it running on a default nobody chose. Now every invalid value is a startup error that names the variable, all problems are
// printed one per line, and the exit status is 2 before anything is bound
// (SPEC §6).
func TestRegression_InvalidConfigurationValuesAreStartupErrorsNamingTheVariable(t *testing.T) {
	cases := []struct{ variable, value, says string }{
		{"ARQONBUS_MAX_CONNECTIONS", "lots", "not an integer"},
		{"ARQONBUS_MAX_SUBSCRIPTIONS", "12.5", "not an integer"},
		{"ARQONBUS_RATE_LIMIT_BURST", "99999999999999999999999", "out of range"},
		{"ARQONBUS_MAX_MESSAGE_SIZE", "10", "out of range"},
		{"ARQONBUS_HTTP_PORT", "70000", "out of range"},
		{"ARQONBUS_MAX_VIOLATIONS", "0", "at least"},
		{"ARQONBUS_AUTH_LEEWAY", "10m", "out of range"},
		{"ARQONBUS_RATE_LIMIT_GRACE", "soon", "not a duration"},
		{"ARQONBUS_STORAGE_MODE", "sticky", "not one of"},
		{"ARQONBUS_STORAGE_BACKEND", "postgres", "not one of"},
		{"ARQONBUS_LOG_LEVEL", "verbose", "not one of"},
		{"ARQONBUS_ENABLE_PERSISTENCE", "ture", "not a boolean"},
	}
	problemLine := func(stderr, variable string) string {
		for _, line := range strings.Split(stderr, "\n") {
			if strings.Contains(line, variable) {
				return line
			}
		}
		return ""
	}
	var all []string
	for _, tc := range cases {
		all = append(all, tc.variable+"="+tc.value)
	}
	for _, tc := range cases {
		t.Run(tc.variable, func(t *testing.T) {
			kv := tc.variable + "=" + tc.value
			code, out, stderr := runApp(t, append([]string{kv}, loopback...), "serve")
			assert.Equal(t, 2, code, "%s\nstderr:\n%s", kv, stderr)
			assert.NotContains(t, out, "listening", "%s: it never served", kv)
			line := problemLine(stderr, tc.variable)
			require.NotEmpty(t, line, "%s: no problem line names the variable\nstderr:\n%s", kv, stderr)
			assert.Contains(t, line, tc.says, "%s", kv)
			assert.NotContains(t, stderr, "goroutine", "%s: a problem, not a crash", kv)
		})
	}

	code, _, stderr := runApp(t, append(all, loopback...), "serve")
	assert.Equal(t, 2, code)
	for _, tc := range cases {
		assert.NotEmpty(t, problemLine(stderr, tc.variable), "all problems are printed at once: %s missing\n%s", tc.variable, stderr)
	}
	assert.Contains(t, stderr, fmt.Sprintf("(%d problem(s))", len(cases)), "one problem per variable")
}

// The Python server matched environment names literally, so spellings
// such as "prod", "Stage" or "production " were not recognised as the
// profile they name, and its safety rules missed them. Now ARQONBUS_ENVIRONMENT is trimmed, lower-cased and mapped through
// the documented aliases; anything else, including an empty value, is a
// startup error that names the value and the accepted set (SPEC §6).
func TestRegression_EnvironmentAliasesAreNormalisedAndOthersRefused(t *testing.T) {
	aliases := map[string]string{
		"dev": "dev", "development": "dev", "DEV": "dev", " Development ": "dev",
		"staging": "staging", "stage": "staging", "STAGING": "staging", "\tStage": "staging",
		"prod": "prod", "production": "prod", "PROD": "prod", "Production\n": "prod",
	}
	for alias, want := range aliases {
		code, out, stderr := runApp(t, []string{"ARQONBUS_ENVIRONMENT=" + alias}, "config", "print")
		require.Equal(t, 0, code, "%q\n%s", alias, stderr)
		assert.Contains(t, out, "ARQONBUS_ENVIRONMENT="+want+"\n", "%q is %s", alias, want)
	}

	for _, bad := range []string{"qa", "producton", "", "prod uction", "dev,prod"} {
		code, out, stderr := runApp(t, append([]string{"ARQONBUS_ENVIRONMENT=" + bad}, loopback...), "serve")
		assert.Equal(t, 2, code, "%q\n%s", bad, stderr)
		assert.NotContains(t, out, "listening", "%q never serves", bad)
		assert.Contains(t, stderr, "ARQONBUS_ENVIRONMENT", "%q", bad)
		assert.Contains(t, stderr, strconv.Quote(bad), "the value is named")
		assert.Contains(t, stderr, "dev, development, staging, stage, prod, production", "the accepted set is named")
	}
}

// The old entry point could return on its own right after startup, so the
// process ended while operators believed the node was serving. Now `arqonbus serve` keeps serving until it is stopped (a signal, or its
// context in-process), then drains: clients get 1001 and the exit status
// is 0 (SPEC §2, §10).
func TestRegression_TheEntryPointServesUntilItIsStopped(t *testing.T) {
	p := startApp(t, loopback, "serve")
	c := testutil.DialURL(t, "ws://"+p.Addr+"/ws")

	// Still serving well after startup: it does not exit on its own.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		select {
		case <-p.exited:
			t.Fatalf("arqonbus serve exited by itself with status %d", p.code)
		case <-tick.C:
		}
		code, _ := p.get(t, "/livez")
		require.Equal(t, http.StatusOK, code)
	}
	data := testutil.Command(t, c, "ping", nil)
	require.Equal(t, true, data["pong"])

	assert.Equal(t, 0, p.stop(t), "a stopped server exits 0")
	assert.Equal(t, protocol.CloseGoingAway, testutil.ExpectClose(t, c, 5*time.Second), "clients are told 1001")
}
