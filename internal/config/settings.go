package config

import (
	"strconv"
	"strings"
	"time"
)

// Variable names that code outside the table refers to.
const (
	varEnvironment    = "ARQONBUS_ENVIRONMENT"
	varHost           = "ARQONBUS_SERVER_HOST"
	varPort           = "ARQONBUS_SERVER_PORT"
	varHTTPPort       = "ARQONBUS_HTTP_PORT"
	varMaxMessageSize = "ARQONBUS_MAX_MESSAGE_SIZE"
	varMaxJSONDepth   = "ARQONBUS_MAX_JSON_DEPTH"
	varOrigins        = "ARQONBUS_ALLOWED_ORIGINS"
	varMaxConns       = "ARQONBUS_MAX_CONNECTIONS"
	varMaxSubs        = "ARQONBUS_MAX_SUBSCRIPTIONS"
	varMaxViolations  = "ARQONBUS_MAX_VIOLATIONS"
	varSendQueue      = "ARQONBUS_SEND_QUEUE_BYTES"
	varRate           = "ARQONBUS_RATE_LIMIT_PER_SECOND"
	varBurst          = "ARQONBUS_RATE_LIMIT_BURST"
	varGrace          = "ARQONBUS_RATE_LIMIT_GRACE"
	varPing           = "ARQONBUS_PING_INTERVAL"
	varPong           = "ARQONBUS_PONG_TIMEOUT"
	varHandshake      = "ARQONBUS_HANDSHAKE_TIMEOUT"
	varWrite          = "ARQONBUS_WRITE_TIMEOUT"
	varShutdown       = "ARQONBUS_SHUTDOWN_TIMEOUT"
	varPrototypeRSI   = "ARQONBUS_ENABLE_PROTOTYPE_RSI"
	varBackend        = "ARQONBUS_STORAGE_BACKEND"
	varMode           = "ARQONBUS_STORAGE_MODE"
	varHistorySize    = "ARQONBUS_MAX_HISTORY_SIZE"
	varHistoryTTL     = "ARQONBUS_HISTORY_TTL"
	varRedisTimeout   = "ARQONBUS_REDIS_TIMEOUT"
	varRedisLinger    = "ARQONBUS_REDIS_BATCH_LINGER"
	varLogLevel       = "ARQONBUS_LOG_LEVEL"
	varLogFormat      = "ARQONBUS_LOG_FORMAT"
	varGCHeapFloor    = "ARQONBUS_GC_HEAP_FLOOR"
)

// Variable names other packages quote in their messages (auth names the
// variable to fix, the app and the history command name the setting that
// turned something off). config owns every name; the others use these.
const (
	VarEnableAuth           = "ARQONBUS_ENABLE_AUTH"
	VarAuthAllowQueryToken  = "ARQONBUS_AUTH_ALLOW_QUERY_TOKEN"
	VarAuthJWTSecret        = "ARQONBUS_AUTH_JWT_SECRET"
	VarAuthJWTPublicKeyFile = "ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE"
	VarAuthJWKSFile         = "ARQONBUS_AUTH_JWKS_FILE"
	VarAuthJWTAlgorithms    = "ARQONBUS_AUTH_JWT_ALGORITHMS"
	VarAuthLeeway           = "ARQONBUS_AUTH_LEEWAY"
	VarAuthIssuer           = "ARQONBUS_AUTH_ISSUER"
	VarAuthAudience         = "ARQONBUS_AUTH_AUDIENCE"
	VarAuthRequireTenant    = "ARQONBUS_AUTH_REQUIRE_TENANT"
	VarEnablePersistence    = "ARQONBUS_ENABLE_PERSISTENCE"
	VarRedisURL             = "ARQONBUS_REDIS_URL"
	VarStoreMaxValueBytes   = "ARQONBUS_STORE_MAX_VALUE_BYTES"
	VarStoreMaxKeys         = "ARQONBUS_STORE_MAX_KEYS"
	VarCronMinInterval      = "ARQONBUS_CRON_MIN_INTERVAL"
	VarCronMaxJobsPerClient = "ARQONBUS_CRON_MAX_JOBS_PER_CLIENT"
	VarCronMaxJobs          = "ARQONBUS_CRON_MAX_JOBS"
	VarTaskQueueMax         = "ARQONBUS_TASK_QUEUE_MAX"
	VarTaskPrefetch         = "ARQONBUS_TASK_PREFETCH"
	VarTaskVisibility       = "ARQONBUS_TASK_VISIBILITY_TIMEOUT"
	VarTaskMaxAttempts      = "ARQONBUS_TASK_MAX_ATTEMPTS"
	VarTaskResultTTL        = "ARQONBUS_TASK_RESULT_TTL"
	VarTaskMaxBytes         = "ARQONBUS_TASK_MAX_BYTES"
	VarTaskMaxGroups        = "ARQONBUS_TASK_MAX_GROUPS_PER_WORKER"
	VarTaskPollInterval     = "ARQONBUS_TASK_POLL_INTERVAL"
	VarHistoryMaxBytes      = "ARQONBUS_HISTORY_MAX_BYTES"
	VarHistoryTenantBytes   = "ARQONBUS_HISTORY_TENANT_MAX_BYTES"
	VarHistoryReadsTenant   = "ARQONBUS_HISTORY_READS_PER_TENANT"
	VarHistoryReadBytesRate = "ARQONBUS_HISTORY_READ_BYTES_PER_SECOND"
	VarMaxConnsPerTenant    = "ARQONBUS_MAX_CONNECTIONS_PER_TENANT"
	VarMaxConnsPerSubject   = "ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT"
	VarMaxConnsPerAddress   = "ARQONBUS_MAX_CONNECTIONS_PER_ADDRESS"
	VarTenantRateLimit      = "ARQONBUS_TENANT_RATE_LIMIT_PER_SECOND"
	VarOpsToken             = "ARQONBUS_OPS_TOKEN"
)

// varPrefix starts every variable; testVarPrefix is reserved for the test
// harness (ARQONBUS_TEST_REDIS_URL, ...), which the server never reads and
// never warns about.
const (
	varPrefix     = "ARQONBUS_"
	testVarPrefix = "ARQONBUS_TEST_"
)

// kind is a setting's value type; it picks the parser and the help text.
type kind string

const (
	kindString   kind = "string"
	kindSecret   kind = "secret"
	kindInt      kind = "int"
	kindDuration kind = "duration"
	kindBool     kind = "bool"
	kindList     kind = "list"
	kindEnum     kind = "enum"
)

// setting ties one variable (and its flag) to one Config field. The table
// below is the single source for Load, Print, the flag set and the
// documentation test, so a variable cannot be read but not printed, or
// documented but not read.
type setting struct {
	name  string
	kind  kind
	usage string
	set   func(c *Config, raw string) error
	get   func(c *Config) string
}

// flag returns the flag name: the variable without ARQONBUS_, lower-cased,
// underscores turned into dashes (ARQONBUS_SERVER_PORT -> server-port).
func (s setting) flag() string { return flagName(s.name) }

// flagName derives a flag name from a variable name.
func flagName(variable string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(variable, varPrefix)), "_", "-")
}

func stringSetting(name, usage string, field func(*Config) *string) setting {
	return setting{name: name, kind: kindString, usage: usage,
		set: func(c *Config, raw string) error { *field(c) = strings.TrimSpace(raw); return nil },
		get: func(c *Config) string { return *field(c) },
	}
}

// secretSetting is kept byte for byte (no trimming: the bytes are the key)
// and printed as <redacted>.
func secretSetting(name, usage string, field func(*Config) *string) setting {
	return setting{name: name, kind: kindSecret, usage: usage,
		set: func(c *Config, raw string) error { *field(c) = raw; return nil },
		get: func(c *Config) string {
			if *field(c) == "" {
				return ""
			}
			return "<redacted>"
		},
	}
}

func intSetting(name, usage string, field func(*Config) *int) setting {
	return setting{name: name, kind: kindInt, usage: usage,
		set: func(c *Config, raw string) error {
			n, err := parseInt(raw)
			if err == nil {
				*field(c) = n
			}
			return err
		},
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

func durationSetting(name, usage string, field func(*Config) *time.Duration) setting {
	return setting{name: name, kind: kindDuration, usage: usage,
		set: func(c *Config, raw string) error {
			d, err := parseDuration(raw)
			if err == nil {
				*field(c) = d
			}
			return err
		},
		get: func(c *Config) string { return field(c).String() },
	}
}

func boolSetting(name, usage string, field func(*Config) *bool) setting {
	return setting{name: name, kind: kindBool, usage: usage,
		set: func(c *Config, raw string) error {
			b, err := parseBool(raw)
			if err == nil {
				*field(c) = b
			}
			return err
		},
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

func listSetting(name, usage string, field func(*Config) *[]string) setting {
	return setting{name: name, kind: kindList, usage: usage,
		set: func(c *Config, raw string) error { *field(c) = parseList(raw); return nil },
		get: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
}

func enumSetting(name, usage string, e enum, field func(*Config) *string) setting {
	return setting{name: name, kind: kindEnum, usage: usage + " (" + e.text + ")",
		set: func(c *Config, raw string) error {
			v, err := e.parse(raw)
			if err == nil {
				*field(c) = v
			}
			return err
		},
		get: func(c *Config) string { return *field(c) },
	}
}

// settings is every variable, in the order Print and the help list them.
var settings = []setting{
	{name: varEnvironment, kind: kindEnum,
		usage: "profile: dev, staging or prod (aliases development, stage, production)",
		set: func(c *Config, raw string) error {
			p, err := NormalizeProfile(raw)
			if err == nil {
				c.Environment = p
			}
			return err
		},
		get: func(c *Config) string { return c.Environment },
	},

	stringSetting(varHost, "listen host", func(c *Config) *string { return &c.Host }),
	intSetting(varPort, "WebSocket (and shared HTTP) port; 0 picks a free port", func(c *Config) *int { return &c.Port }),
	intSetting(varHTTPPort, "separate port for the HTTP ops endpoints; 0 shares the WebSocket port", func(c *Config) *int { return &c.HTTPPort }),

	intSetting(varMaxMessageSize, "frame limit in bytes (1024..64 MiB)", func(c *Config) *int { return &c.MaxMessageSize }),
	intSetting(varMaxJSONDepth, "maximum JSON nesting depth (1..1000)", func(c *Config) *int { return &c.MaxJSONDepth }),
	listSetting(varOrigins, "comma list of allowed browser origins; * only in dev", func(c *Config) *[]string { return &c.AllowedOrigins }),
	intSetting(varMaxConns, "maximum open connections", func(c *Config) *int { return &c.MaxConnections }),
	intSetting(VarMaxConnsPerTenant, "open connections per tenant (authenticated); 0 no cap", func(c *Config) *int { return &c.MaxConnectionsPerTenant }),
	intSetting(VarMaxConnsPerSubject, "open connections per (tenant, sub) (authenticated); 0 no cap", func(c *Config) *int { return &c.MaxConnectionsPerSubject }),
	intSetting(VarMaxConnsPerAddress, "open connections per remote IP without a token identity; 0 no cap", func(c *Config) *int { return &c.MaxConnectionsPerAddress }),
	intSetting(varMaxSubs, "maximum (room, channel) pairs per client", func(c *Config) *int { return &c.MaxSubscriptions }),
	intSetting(varMaxViolations, "protocol violations per minute before close 1008", func(c *Config) *int { return &c.MaxViolations }),
	intSetting(varSendQueue, "per-client send queue in bytes; overflow closes with 4008", func(c *Config) *int { return &c.SendQueueBytes }),
	intSetting(varRate, "frames per second per connection; 0 disables rate limiting", func(c *Config) *int { return &c.RateLimitPerSecond }),
	intSetting(VarTenantRateLimit, "frames per second of one tenant's connections together (authenticated); 0 no bound", func(c *Config) *int { return &c.TenantRateLimitPerSecond }),
	intSetting(varBurst, "rate limit burst (token bucket size)", func(c *Config) *int { return &c.RateLimitBurst }),
	durationSetting(varGrace, "time over the rate limit before close 4029", func(c *Config) *time.Duration { return &c.RateLimitGrace }),
	boolSetting("ARQONBUS_REQUIRE_MEMBERSHIP", "publishing to a pair requires membership", func(c *Config) *bool { return &c.RequireMembership }),
	durationSetting(varPing, "keepalive ping period", func(c *Config) *time.Duration { return &c.PingInterval }),
	durationSetting(varPong, "time to wait for a pong", func(c *Config) *time.Duration { return &c.PongTimeout }),
	durationSetting(varHandshake, "bound on reading the upgrade request and writing its answer", func(c *Config) *time.Duration { return &c.HandshakeTimeout }),
	durationSetting(varWrite, "bound on one socket write", func(c *Config) *time.Duration { return &c.WriteTimeout }),
	durationSetting(varShutdown, "bound on the drain at SIGTERM", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),

	boolSetting(VarEnableAuth, "JWT authentication at the handshake (required in staging and prod)", func(c *Config) *bool { return &c.EnableAuth }),
	boolSetting(VarAuthAllowQueryToken, "accept ?token=, ?access_token=, ?auth_token=", func(c *Config) *bool { return &c.AuthAllowQueryToken }),
	secretSetting(VarAuthJWTSecret, "HMAC key (at least 32 bytes in staging and prod)", func(c *Config) *string { return &c.AuthJWTSecret }),
	stringSetting(VarAuthJWTPublicKeyFile, "PEM public key file (RSA, ECDSA, Ed25519)", func(c *Config) *string { return &c.AuthJWTPublicKeyFile }),
	stringSetting(VarAuthJWKSFile, "JWK set file; keys chosen by kid", func(c *Config) *string { return &c.AuthJWKSFile }),
	listSetting(VarAuthJWTAlgorithms, "comma list of accepted JWT algorithms (exact case)", func(c *Config) *[]string { return &c.AuthJWTAlgorithms }),
	durationSetting(VarAuthLeeway, "clock skew allowed on exp/nbf/iat (0..300s)", func(c *Config) *time.Duration { return &c.AuthLeeway }),
	stringSetting(VarAuthIssuer, "required iss claim, when set", func(c *Config) *string { return &c.AuthIssuer }),
	stringSetting(VarAuthAudience, "required aud claim, when set", func(c *Config) *string { return &c.AuthAudience }),
	boolSetting(VarAuthRequireTenant, "require a tenant_id claim", func(c *Config) *bool { return &c.AuthRequireTenant }),

	secretSetting(VarOpsToken, "bearer token /metrics and /status require when set (at least 16 bytes)", func(c *Config) *string { return &c.OpsToken }),

	boolSetting("ARQONBUS_PREFLIGHT_STRICT", "run the strict preflight in dev too", func(c *Config) *bool { return &c.PreflightStrict }),
	boolSetting(varPrototypeRSI, "open the experimental prototype lanes in staging and prod", func(c *Config) *bool { return &c.EnablePrototypeRSI }),

	enumSetting(varBackend, "storage backend", backendEnum, func(c *Config) *string { return &c.StorageBackend }),
	enumSetting(varMode, "storage failure policy", modeEnum, func(c *Config) *string { return &c.StorageMode }),
	boolSetting(VarEnablePersistence, "store messages at all", func(c *Config) *bool { return &c.EnablePersistence }),
	intSetting(varHistorySize, "history length per (tenant, room, channel)", func(c *Config) *int { return &c.MaxHistorySize }),
	durationSetting(varHistoryTTL, "history of a (tenant, room, channel) idle this long is dropped (Redis and memory); 0 keeps it", func(c *Config) *time.Duration { return &c.HistoryTTL }),
	intSetting(VarHistoryMaxBytes, "bytes of history held in memory on this node (memory backend and fallback); oldest evicted first", func(c *Config) *int { return &c.HistoryMaxBytes }),
	intSetting(VarHistoryTenantBytes, "share of ARQONBUS_HISTORY_MAX_BYTES one tenant may hold", func(c *Config) *int { return &c.HistoryTenantMaxBytes }),
	intSetting(VarHistoryReadsTenant, "history reads of one tenant running at once on this node (1..1024)", func(c *Config) *int { return &c.HistoryReadsPerTenant }),
	intSetting(VarHistoryReadBytesRate, "bytes of history one tenant reads per second on this node; 0 no bound", func(c *Config) *int { return &c.HistoryReadBytesPerSecond }),
	stringSetting(VarRedisURL, "redis:// or rediss:// URL", func(c *Config) *string { return &c.RedisURL }),
	durationSetting(varRedisTimeout, "bound on every Redis call and the startup PING", func(c *Config) *time.Duration { return &c.RedisTimeout }),
	intSetting(VarStoreMaxValueBytes, "largest op.store value in bytes of its JSON (1..16 MiB)", func(c *Config) *int { return &c.StoreMaxValueBytes }),
	intSetting(VarStoreMaxKeys, "op.store keys per tenant, all namespaces together (1..100000000)", func(c *Config) *int { return &c.StoreMaxKeys }),
	durationSetting(VarCronMinInterval, "shortest op.cron interval_seconds (100ms..24h)", func(c *Config) *time.Duration { return &c.CronMinInterval }),
	intSetting(VarCronMaxJobsPerClient, "op.cron jobs per connection (1..100000)", func(c *Config) *int { return &c.CronMaxJobsPerClient }),
	intSetting(VarCronMaxJobs, "op.cron jobs per node (1..10000000)", func(c *Config) *int { return &c.CronMaxJobs }),
	intSetting(VarTaskQueueMax, "unfinished work-queue tasks per (tenant, group) (1..10000000)", func(c *Config) *int { return &c.TaskQueueMax }),
	intSetting(VarTaskPrefetch, "unfinished tasks one worker holds at once (1..1000)", func(c *Config) *int { return &c.TaskPrefetch }),
	durationSetting(VarTaskVisibility, "time a worker has to complete a task before it goes to another (100ms..24h)", func(c *Config) *time.Duration { return &c.TaskVisibilityTimeout }),
	intSetting(VarTaskMaxAttempts, "deliveries of one task before it is dead (1..100)", func(c *Config) *int { return &c.TaskMaxAttempts }),
	durationSetting(VarTaskResultTTL, "how long a finished task and its result are kept (1s..720h)", func(c *Config) *time.Duration { return &c.TaskResultTTL }),
	intSetting(VarTaskMaxBytes, "largest task object in bytes of its JSON (2..16 MiB)", func(c *Config) *int { return &c.TaskMaxBytes }),
	intSetting(VarTaskMaxGroups, "work-queue groups one connection may join (1..1024)", func(c *Config) *int { return &c.TaskMaxGroupsPerWorker }),
	durationSetting(VarTaskPollInterval, "how often a node looks for tasks submitted elsewhere and for expired deliveries (10ms..10s)", func(c *Config) *time.Duration { return &c.TaskPollInterval }),
	durationSetting(varRedisLinger, "how long a busy batch of Redis appends waits for more (0..10ms); 0 sends at once", func(c *Config) *time.Duration { return &c.RedisBatchLinger }),

	enumSetting(varLogLevel, "log level", logLevelEnum, func(c *Config) *string { return &c.LogLevel }),
	enumSetting(varLogFormat, "log format", logFormatEnum, func(c *Config) *string { return &c.LogFormat }),

	intSetting(varGCHeapFloor, "least heap in bytes before a garbage collection (0..64 GiB); 0 off; GOGC overrides", func(c *Config) *int { return &c.GCHeapFloor }),
}

// settingsByName indexes the table.
var settingsByName = func() map[string]setting {
	m := make(map[string]setting, len(settings))
	for _, s := range settings {
		m[s.name] = s
	}
	return m
}()

// Variables returns every ARQONBUS_* variable the server reads, in the
// order Print uses, for help texts and documentation checks.
func Variables() []string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.name
	}
	return names
}

// FlagName returns the `arqonbus serve` flag for a variable:
// ARQONBUS_SERVER_PORT -> server-port (given as --server-port).
func FlagName(variable string) string { return flagName(variable) }
