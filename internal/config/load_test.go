package config

import (
	"errors"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadWithNothingSetGivesTheDevDefaults(t *testing.T) {
	cfg := mustLoad(t, nil)
	want := Default(ProfileDev)
	assert.Equal(t, &want, cfg)
	assert.Empty(t, cfg.Explicit)

	cfg, err := Load(nil, nil)
	require.NoError(t, err, "a nil getenv is an empty environment")
	assert.Equal(t, &want, cfg)
}

func TestLoadResolvesTheProfileBeforeItsDefaults(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		profile     string
		queryToken  bool
		needsTenant bool
	}{
		{"development selects dev defaults", map[string]string{"ARQONBUS_ENVIRONMENT": "development"}, nil, ProfileDev, true, false},
		{"stage selects staging defaults", map[string]string{"ARQONBUS_ENVIRONMENT": "stage"}, nil, ProfileStaging, true, true},
		{"Production selects prod defaults", map[string]string{"ARQONBUS_ENVIRONMENT": " Production "}, nil, ProfileProd, false, true},
		{"the --environment flag selects the profile", nil, []string{"--environment=prod"}, ProfileProd, false, true},
		{"the flag profile wins over the variable", map[string]string{"ARQONBUS_ENVIRONMENT": "prod"}, []string{"--environment", "dev"}, ProfileDev, true, false},
		{"an explicit value wins over the profile default", map[string]string{"ARQONBUS_ENVIRONMENT": "prod", "ARQONBUS_AUTH_ALLOW_QUERY_TOKEN": "yes"}, nil, ProfileProd, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, tt.env, tt.args...)
			assert.Equal(t, tt.profile, cfg.Environment)
			assert.Equal(t, tt.queryToken, cfg.AuthAllowQueryToken)
			assert.Equal(t, tt.needsTenant, cfg.AuthRequireTenant)
			assert.True(t, cfg.Explicit["ARQONBUS_ENVIRONMENT"])
		})
	}
}

func TestLoadRejectsAnUnknownProfile(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"qa names the value and the accepted profiles", map[string]string{"ARQONBUS_ENVIRONMENT": "qa"}, nil,
			`ARQONBUS_ENVIRONMENT: "qa" is not a profile; accepted: dev, development, staging, stage, prod, production`},
		{"an empty variable is an error", map[string]string{"ARQONBUS_ENVIRONMENT": ""}, nil,
			`ARQONBUS_ENVIRONMENT: "" is not a profile; accepted: dev, development, staging, stage, prod, production`},
		{"a bad flag names the flag too", nil, []string{"--environment=qa"},
			`ARQONBUS_ENVIRONMENT (flag --environment): "qa" is not a profile`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := problemsOf(t, tt.env, tt.args...)
			require.Len(t, probs, 1)
			assert.Contains(t, probs[0], tt.want)
		})
	}
}

func TestLoadParseErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name, variable, value, want string
	}{
		{"a word is not an integer", "ARQONBUS_SERVER_PORT", "abc", `ARQONBUS_SERVER_PORT: "abc" is not an integer`},
		{"a suffix is not an integer", "ARQONBUS_MAX_CONNECTIONS", "10k", `ARQONBUS_MAX_CONNECTIONS: "10k" is not an integer`},
		{"a fraction is not an integer", "ARQONBUS_MAX_JSON_DEPTH", "1.5", `ARQONBUS_MAX_JSON_DEPTH: "1.5" is not an integer`},
		{"hex is not an integer", "ARQONBUS_MAX_VIOLATIONS", "0x10", `ARQONBUS_MAX_VIOLATIONS: "0x10" is not an integer`},
		{"an empty integer is an error", "ARQONBUS_HTTP_PORT", "", `ARQONBUS_HTTP_PORT: "" is not an integer`},
		{"an overflowing integer is out of range", "ARQONBUS_MAX_MESSAGE_SIZE", "99999999999999999999", `ARQONBUS_MAX_MESSAGE_SIZE: "99999999999999999999" is out of range for an integer`},
		{"a word is not a duration", "ARQONBUS_PING_INTERVAL", "soon", `ARQONBUS_PING_INTERVAL: "soon" is not a duration (use Go syntax such as 30s or 1m30s, or whole seconds)`},
		{"a fraction without unit is not a duration", "ARQONBUS_PONG_TIMEOUT", "1.5", `ARQONBUS_PONG_TIMEOUT: "1.5" is not a duration`},
		{"an unknown unit is not a duration", "ARQONBUS_WRITE_TIMEOUT", "10 sec", `ARQONBUS_WRITE_TIMEOUT: "10 sec" is not a duration`},
		{"an overflowing duration is out of range", "ARQONBUS_SHUTDOWN_TIMEOUT", "9999999999999", `ARQONBUS_SHUTDOWN_TIMEOUT: "9999999999999" is out of range for a duration`},
		{"an empty duration is an error", "ARQONBUS_REDIS_TIMEOUT", "", `ARQONBUS_REDIS_TIMEOUT: "" is not a duration`},
		{"maybe is not a boolean", "ARQONBUS_ENABLE_AUTH", "maybe", `ARQONBUS_ENABLE_AUTH: "maybe" is not a boolean (use true/false, 1/0, yes/no or on/off)`},
		{"a typo is not a boolean", "ARQONBUS_REQUIRE_MEMBERSHIP", "ture", `ARQONBUS_REQUIRE_MEMBERSHIP: "ture" is not a boolean`},
		{"2 is not a boolean", "ARQONBUS_ENABLE_PERSISTENCE", "2", `ARQONBUS_ENABLE_PERSISTENCE: "2" is not a boolean`},
		{"an unknown backend is rejected", "ARQONBUS_STORAGE_BACKEND", "mysql", `ARQONBUS_STORAGE_BACKEND: "mysql" is not one of memory, redis (alias redis_streams)`},
		{"an unknown mode is rejected", "ARQONBUS_STORAGE_MODE", "lenient", `ARQONBUS_STORAGE_MODE: "lenient" is not one of strict, degraded`},
		{"an unknown log level is rejected", "ARQONBUS_LOG_LEVEL", "verbose", `ARQONBUS_LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{"warning is not a log level", "ARQONBUS_LOG_LEVEL", "warning", `ARQONBUS_LOG_LEVEL: "warning" is not one of`},
		{"an unknown log format is rejected", "ARQONBUS_LOG_FORMAT", "xml", `ARQONBUS_LOG_FORMAT: "xml" is not one of text, json, or empty`},
		{"a long value is cut in the message", "ARQONBUS_SERVER_PORT", strings.Repeat("9a", 100), `ARQONBUS_SERVER_PORT: "` + strings.Repeat("9a", 32) + `"... is not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := problemsOf(t, map[string]string{tt.variable: tt.value})
			require.Len(t, probs, 1, "%q", probs)
			assert.Contains(t, probs[0], tt.want)
		})
	}
}

func TestLoadAcceptsEveryDocumentedSpelling(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"true, 1, yes and on are true in any case", map[string]string{
			"ARQONBUS_ENABLE_AUTH": "TRUE", "ARQONBUS_REQUIRE_MEMBERSHIP": "1", "ARQONBUS_PREFLIGHT_STRICT": "Yes", "ARQONBUS_ENABLE_PROTOTYPE_RSI": " on ",
		}, func(t *testing.T, c *Config) {
			assert.True(t, c.EnableAuth)
			assert.True(t, c.RequireMembership)
			assert.True(t, c.PreflightStrict)
			assert.True(t, c.EnablePrototypeRSI)
		}},
		{"false, 0, no and off are false in any case", map[string]string{
			"ARQONBUS_ENABLE_PERSISTENCE": "False", "ARQONBUS_AUTH_ALLOW_QUERY_TOKEN": "0", "ARQONBUS_AUTH_REQUIRE_TENANT": "NO", "ARQONBUS_ENABLE_AUTH": "off",
		}, func(t *testing.T, c *Config) {
			assert.False(t, c.EnablePersistence)
			assert.False(t, c.AuthAllowQueryToken)
			assert.False(t, c.AuthRequireTenant)
			assert.False(t, c.EnableAuth)
		}},
		{"durations take Go syntax", map[string]string{"ARQONBUS_PING_INTERVAL": "1m30s", "ARQONBUS_REDIS_TIMEOUT": "250ms"}, func(t *testing.T, c *Config) {
			assert.Equal(t, 90*time.Second, c.PingInterval)
			assert.Equal(t, 250*time.Millisecond, c.RedisTimeout)
		}},
		{"a bare integer duration is seconds", map[string]string{"ARQONBUS_SHUTDOWN_TIMEOUT": "15", "ARQONBUS_HISTORY_TTL": "0"}, func(t *testing.T, c *Config) {
			assert.Equal(t, 15*time.Second, c.ShutdownTimeout)
			assert.Equal(t, time.Duration(0), c.HistoryTTL)
		}},
		{"integers may be surrounded by space", map[string]string{"ARQONBUS_SERVER_PORT": " 9200 "}, func(t *testing.T, c *Config) {
			assert.Equal(t, 9200, c.Port)
		}},
		{"redis_streams is an alias of redis", map[string]string{"ARQONBUS_STORAGE_BACKEND": "redis_streams", "ARQONBUS_REDIS_URL": "redis://localhost:6379/0"}, func(t *testing.T, c *Config) {
			assert.Equal(t, BackendRedis, c.StorageBackend)
		}},
		{"enums are case-insensitive", map[string]string{"ARQONBUS_STORAGE_BACKEND": "Redis", "ARQONBUS_REDIS_URL": "redis://h", "ARQONBUS_STORAGE_MODE": "STRICT", "ARQONBUS_LOG_LEVEL": "Debug", "ARQONBUS_LOG_FORMAT": "JSON"}, func(t *testing.T, c *Config) {
			assert.Equal(t, BackendRedis, c.StorageBackend)
			assert.Equal(t, ModeStrict, c.StorageMode)
			assert.Equal(t, "debug", c.LogLevel)
			assert.Equal(t, "json", c.LogFormat)
		}},
		{"an empty log format means automatic", map[string]string{"ARQONBUS_LOG_FORMAT": ""}, func(t *testing.T, c *Config) {
			assert.Empty(t, c.LogFormat)
		}},
		{"lists are trimmed and empty items dropped", map[string]string{"ARQONBUS_ALLOWED_ORIGINS": " https://a.example ,, https://b.example ,", "ARQONBUS_AUTH_JWT_ALGORITHMS": "HS256, RS256"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"https://a.example", "https://b.example"}, c.AllowedOrigins)
			assert.Equal(t, []string{"HS256", "RS256"}, c.AuthJWTAlgorithms)
		}},
		{"an empty origin list is empty", map[string]string{"ARQONBUS_ALLOWED_ORIGINS": " , "}, func(t *testing.T, c *Config) {
			assert.Empty(t, c.AllowedOrigins)
		}},
		{"the secret is kept byte for byte", map[string]string{"ARQONBUS_AUTH_JWT_SECRET": " spaced secret "}, func(t *testing.T, c *Config) {
			assert.Equal(t, " spaced secret ", c.AuthJWTSecret)
		}},
		{"plain strings are trimmed", map[string]string{"ARQONBUS_SERVER_HOST": " ::1 ", "ARQONBUS_AUTH_ISSUER": " https://issuer.example ", "ARQONBUS_AUTH_AUDIENCE": "bus"}, func(t *testing.T, c *Config) {
			assert.Equal(t, "::1", c.Host)
			assert.Equal(t, "https://issuer.example", c.AuthIssuer)
			assert.Equal(t, "bus", c.AuthAudience)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustLoad(t, tt.env))
		})
	}
}

func TestLoadCollectsEveryProblem(t *testing.T) {
	probs := problemsOf(t, map[string]string{
		"ARQONBUS_SERVER_PORT":     "abc",
		"ARQONBUS_ENABLE_AUTH":     "maybe",
		"ARQONBUS_STORAGE_BACKEND": "mysql",
		"ARQONBUS_PING_INTERVAL":   "soon",
		"ARQONBUS_MAX_JSON_DEPTH":  "0",
	}, "--http-port=x", "--no-such-flag", "--log-level=loud")
	for _, want := range []string{
		"ARQONBUS_SERVER_PORT:", "ARQONBUS_ENABLE_AUTH:", "ARQONBUS_STORAGE_BACKEND:", "ARQONBUS_PING_INTERVAL:",
		"ARQONBUS_MAX_JSON_DEPTH: 0 is out of range 1..1000",
		"ARQONBUS_HTTP_PORT (flag --http-port):", "flag provided but not defined: -no-such-flag",
		"ARQONBUS_LOG_LEVEL (flag --log-level):",
	} {
		assert.True(t, containsLine(probs, want), "missing %q in %q", want, probs)
	}
	assert.Len(t, probs, 8)
}

func TestLoadValidatesWhatItParsed(t *testing.T) {
	probs := problemsOf(t, map[string]string{"ARQONBUS_SERVER_PORT": "70000"})
	assert.Equal(t, []string{"ARQONBUS_SERVER_PORT: 70000 is out of range 0..65535"}, probs)
}

func TestLoadDropsFindingsAboutValuesThatFailedToParse(t *testing.T) {
	// MAX_MESSAGE_SIZE keeps its 1 MiB default after failing to parse; the
	// queue-versus-frame finding would blame a value the operator never set.
	probs := problemsOf(t, map[string]string{"ARQONBUS_MAX_MESSAGE_SIZE": "big", "ARQONBUS_SEND_QUEUE_BYTES": "2048"})
	assert.Equal(t, []string{`ARQONBUS_MAX_MESSAGE_SIZE: "big" is not an integer`}, probs)
}

func TestLoadStillValidatesTheRestWhenTheProfileIsInvalid(t *testing.T) {
	probs := problemsOf(t, map[string]string{
		"ARQONBUS_ENVIRONMENT":     "qa",
		"ARQONBUS_ALLOWED_ORIGINS": "*",
		"ARQONBUS_REDIS_URL":       "redis://:pw@h:x",
		"ARQONBUS_MAX_JSON_DEPTH":  "0",
	})
	assert.Equal(t, []string{
		`ARQONBUS_ENVIRONMENT: "qa" is not a profile; accepted: dev, development, staging, stage, prod, production`,
		"ARQONBUS_MAX_JSON_DEPTH: 0 is out of range 1..1000",
		"ARQONBUS_REDIS_URL: cannot be parsed as a URL (expected redis://[user:password@]host:port[/db] or rediss://...)",
	}, probs, "the origin rule depends on the profile and is not judged")
}

func TestFlagWinsOverVariable(t *testing.T) {
	env := map[string]string{
		"ARQONBUS_SERVER_PORT":     "9100",
		"ARQONBUS_ENABLE_AUTH":     "false",
		"ARQONBUS_AUTH_JWT_SECRET": "from-env",
		"ARQONBUS_ALLOWED_ORIGINS": "https://env.example",
		"ARQONBUS_PING_INTERVAL":   "not-even-parsed",
	}
	cfg := mustLoad(t, env, "--server-port=9300", "--enable-auth", "--auth-jwt-secret", "from-flag",
		"-allowed-origins=https://flag.example", "--ping-interval=5s")
	assert.Equal(t, 9300, cfg.Port)
	assert.True(t, cfg.EnableAuth)
	assert.Equal(t, "from-flag", cfg.AuthJWTSecret)
	assert.Equal(t, []string{"https://flag.example"}, cfg.AllowedOrigins)
	assert.Equal(t, 5*time.Second, cfg.PingInterval, "a bad variable under a good flag is never parsed")
}

func TestFlagForms(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{"--name=value", []string{"--server-port=1"}, func(t *testing.T, c *Config) { assert.Equal(t, 1, c.Port) }},
		{"-name value", []string{"-server-port", "2"}, func(t *testing.T, c *Config) { assert.Equal(t, 2, c.Port) }},
		{"a bare boolean flag is true", []string{"--require-membership"}, func(t *testing.T, c *Config) { assert.True(t, c.RequireMembership) }},
		{"a boolean flag takes =off", []string{"--enable-persistence=off"}, func(t *testing.T, c *Config) { assert.False(t, c.EnablePersistence) }},
		{"the last repeat wins", []string{"--log-level=debug", "--log-level=warn"}, func(t *testing.T, c *Config) { assert.Equal(t, "warn", c.LogLevel) }},
		{"-- ends the flags with nothing after it", []string{"--server-port=3", "--"}, func(t *testing.T, c *Config) { assert.Equal(t, 3, c.Port) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustLoad(t, nil, tt.args...))
		})
	}
}

func TestFlagErrorsAreProblems(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"an unknown flag", []string{"--server-prot=1"}, []string{"flags: flag provided but not defined: -server-prot"}},
		{"a flag without its value", []string{"--server-port"}, []string{"flags: flag needs an argument: -server-port"}},
		{"bad syntax", []string{"---x"}, []string{"flags: bad flag syntax: ---x"}},
		{"a positional argument", []string{"serve"}, []string{`flags: unexpected arguments "serve" (serve takes flags only`}},
		{"a boolean given as a separate word", []string{"--enable-auth", "false"}, []string{`flags: unexpected arguments "false"`, "--name=false"}},
		{"a bad boolean flag value", []string{"--enable-auth=maybe"}, []string{`ARQONBUS_ENABLE_AUTH (flag --enable-auth): "maybe" is not a boolean`}},
		{"every bad flag is reported, not just the first", []string{"--nope=1", "---x", "--nada", "--server-port=x"}, []string{
			"-nope", "---x", "-nada", `ARQONBUS_SERVER_PORT (flag --server-port): "x" is not an integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := problemsOf(t, nil, tt.args...)
			for _, w := range tt.want {
				assert.True(t, containsLine(probs, w), "missing %q in %q", w, probs)
			}
		})
	}
}

func TestHelpFlagAsksForUsage(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg+" returns flag.ErrHelp", func(t *testing.T) {
			cfg, err := Load(nil, []string{"--server-port=bad", arg})
			assert.Nil(t, cfg)
			assert.ErrorIs(t, err, flag.ErrHelp)
		})
	}
	var b strings.Builder
	Usage(&b)
	for _, name := range Variables() {
		assert.Contains(t, b.String(), "--"+FlagName(name)+" ("+name+",")
	}
}

func TestExplicitRecordsEverySetVariableAndFlag(t *testing.T) {
	cfg := mustLoad(t, map[string]string{
		"ARQONBUS_SERVER_HOST":  "",
		"ARQONBUS_STORAGE_MODE": "degraded",
	}, "--server-port=9100")
	assert.Equal(t, map[string]bool{
		"ARQONBUS_SERVER_HOST":  true,
		"ARQONBUS_SERVER_PORT":  true,
		"ARQONBUS_STORAGE_MODE": true,
	}, cfg.Explicit, "set to the default or to empty still counts as set")
}

func TestFlagNamesFollowTheRule(t *testing.T) {
	assert.Equal(t, "server-port", FlagName("ARQONBUS_SERVER_PORT"))
	assert.Equal(t, "auth-jwt-secret", FlagName("ARQONBUS_AUTH_JWT_SECRET"))
	assert.Equal(t, "environment", FlagName("ARQONBUS_ENVIRONMENT"))
	seen := map[string]bool{}
	for _, name := range Variables() {
		require.True(t, strings.HasPrefix(name, "ARQONBUS_"), name)
		f := FlagName(name)
		assert.Equal(t, strings.ToLower(strings.ReplaceAll(name[len("ARQONBUS_"):], "_", "-")), f)
		assert.False(t, seen[f], "duplicate flag %s", f)
		seen[f] = true
	}
}

func TestEveryVariableHasAWorkingFlag(t *testing.T) {
	// A value given by flag must land where the same value given by
	// variable lands, and differ from the default: proves every flag is
	// wired to its own field.
	samples := map[kind]string{
		kindString: "h.example", kindSecret: "s3cret-value", kindInt: "4242", kindDuration: "7s",
		kindBool: "", kindList: "HS384",
	}
	special := map[string][]string{
		varEnvironment:          {"staging"},
		varMaxJSONDepth:         {"42"},
		varSendQueue:            {"2097152"},
		varBackend:              {"redis", "--redis-url=redis://h.example"},
		varMode:                 {"strict", "--storage-backend=redis", "--redis-url=redis://h.example"},
		varLogLevel:             {"error"},
		varLogFormat:            {"json"},
		VarRedisURL:             {"redis://h.example:6380/1"},
		VarAuthJWTPublicKeyFile: {"/keys/pub.pem"},
		varRedisLinger:          {"2ms"},
		VarTaskPrefetch:         {"42"},
		VarTaskMaxAttempts:      {"42"},
		VarTaskMaxGroups:        {"42"},
		VarTaskPollInterval:     {"2s"},
		VarOpsToken:             {"an-ops-token-of-32-bytes-or-so.."},
		VarHistoryMaxBytes:      {"536870912"},
		VarHistoryTenantBytes:   {"2097152"},
		VarHistoryReadsTenant:   {"42"},
		VarHistoryReadBytesRate: {"1048576"},
	}
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			v, extra := samples[s.kind], []string(nil)
			if sp, ok := special[s.name]; ok {
				v, extra = sp[0], sp[1:]
			}
			def := Default(ProfileDev)
			if s.kind == kindBool {
				// Flip the default.
				v = strconv.FormatBool(s.get(&def) != "true")
			}
			fromEnv := Default(ProfileDev)
			require.NoError(t, s.set(&fromEnv, v))
			require.NotEqual(t, s.get(&def), s.get(&fromEnv), "the sample must differ from the default")
			cfg, err := Load(nil, append([]string{"--" + s.flag() + "=" + v}, extra...))
			require.NoError(t, err)
			assert.Equal(t, s.get(&fromEnv), s.get(cfg))
			assert.True(t, cfg.Explicit[s.name])
		})
	}
}

func TestProblemsPrintsOnePerLine(t *testing.T) {
	p := &Problems{"A: one", "B: two"}
	assert.Equal(t, "A: one\nB: two", p.Error())
	var err error = p
	var got *Problems
	require.True(t, errors.As(err, &got))
	assert.Nil(t, (&Problems{}).err(), "an empty list is no error")
}

func TestLoadEnvironWarnsAboutUnknownVariables(t *testing.T) {
	cfg, err := LoadEnviron([]string{
		"PATH=/usr/bin",
		"ARQONBUS_SERVER_PORT=9200",
		"ARQONBUS_SERVER_PORT=9300",
		"ARQONBUS_SERVER_PROT=top-secret-value",
		"ARQONBUS_TEST_REDIS_URL=redis://localhost",
		"arqonbus_log_level=debug",
		"ARQONBUS_SOMETHING_ELSE_ENTIRELY=1",
		"NOEQUALSIGN",
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 9200, cfg.Port, "the first occurrence wins, as in os.Getenv")
	assert.Equal(t, []string{
		"ARQONBUS_SERVER_PROT is not a known variable and is ignored; did you mean ARQONBUS_SERVER_PORT?",
		"ARQONBUS_SOMETHING_ELSE_ENTIRELY is not a known variable and is ignored",
		"arqonbus_log_level is not a known variable and is ignored; did you mean ARQONBUS_LOG_LEVEL? (names are case-sensitive)",
	}, cfg.Warnings)
	for _, w := range cfg.Warnings {
		assert.NotContains(t, w, "top-secret-value", "values are never repeated")
	}
}

func TestLoadEnvironReportsProblemsLikeLoad(t *testing.T) {
	cfg, err := LoadEnviron([]string{"ARQONBUS_ENVIRONMENT=qa"}, nil)
	assert.Nil(t, cfg)
	assert.Contains(t, err.Error(), "ARQONBUS_ENVIRONMENT")
}
