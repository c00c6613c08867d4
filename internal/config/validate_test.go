package config

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateBoundaries(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"port 0 picks a free port", func(c *Config) { c.Port = 0 }, ""},
		{"port 65535 is valid", func(c *Config) { c.Port = 65535 }, ""},
		{"port 65536 is out of range", func(c *Config) { c.Port = 65536 }, "ARQONBUS_SERVER_PORT: 65536 is out of range 0..65535"},
		{"a negative port is out of range", func(c *Config) { c.Port = -1 }, "ARQONBUS_SERVER_PORT: -1 is out of range 0..65535"},
		{"HTTP port 65535 is valid", func(c *Config) { c.HTTPPort = 65535 }, ""},
		{"HTTP port 65536 is out of range", func(c *Config) { c.HTTPPort = 65536 }, "ARQONBUS_HTTP_PORT: 65536 is out of range 0..65535"},
		{"a negative HTTP port is out of range", func(c *Config) { c.HTTPPort = -1 }, "ARQONBUS_HTTP_PORT: -1 is out of range 0..65535"},
		{"the HTTP port may not equal the server port", func(c *Config) { c.HTTPPort = c.Port }, "ARQONBUS_HTTP_PORT: 9100 is also ARQONBUS_SERVER_PORT"},
		{"both ports 0 do not clash", func(c *Config) { c.Port, c.HTTPPort = 0, 0 }, ""},
		{"a message size of 1024 is the minimum", func(c *Config) { c.MaxMessageSize = 1024 }, ""},
		{"a message size of 1023 is too small", func(c *Config) { c.MaxMessageSize = 1023 }, "ARQONBUS_MAX_MESSAGE_SIZE: 1023 is out of range 1024..67108864"},
		{"a linger above 10ms is refused", func(c *Config) { c.RedisBatchLinger = 11 * time.Millisecond }, "ARQONBUS_REDIS_BATCH_LINGER: 11ms is out of range 0s..10ms"},
		{"a negative linger is refused", func(c *Config) { c.RedisBatchLinger = -time.Millisecond }, "ARQONBUS_REDIS_BATCH_LINGER: -1ms is out of range 0s..10ms"},
		{"a negative heap floor is refused", func(c *Config) { c.GCHeapFloor = -1 }, "ARQONBUS_GC_HEAP_FLOOR: -1 is out of range 0.." + strconv.Itoa(maxGCHeapFloor)},
		{"a message size of 64 MiB is the maximum", func(c *Config) { c.MaxMessageSize, c.SendQueueBytes = 64<<20, 64<<20 }, ""},
		{"a message size over 64 MiB is too big", func(c *Config) { c.MaxMessageSize, c.SendQueueBytes = 64<<20+1, 64<<20+1 }, "ARQONBUS_MAX_MESSAGE_SIZE: 67108865 is out of range"},
		{"JSON depth 1 is valid", func(c *Config) { c.MaxJSONDepth = 1 }, ""},
		{"JSON depth 0 is out of range", func(c *Config) { c.MaxJSONDepth = 0 }, "ARQONBUS_MAX_JSON_DEPTH: 0 is out of range 1..1000"},
		{"JSON depth 1000 is valid", func(c *Config) { c.MaxJSONDepth = 1000 }, ""},
		{"JSON depth 1001 is out of range", func(c *Config) { c.MaxJSONDepth = 1001 }, "ARQONBUS_MAX_JSON_DEPTH: 1001 is out of range 1..1000"},
		{"one connection is enough", func(c *Config) { c.MaxConnections = 1 }, ""},
		{"no tenant cap is allowed", func(c *Config) { c.MaxConnectionsPerTenant = 0 }, ""},
		{"a negative tenant cap is refused", func(c *Config) { c.MaxConnectionsPerTenant = -1 }, "ARQONBUS_MAX_CONNECTIONS_PER_TENANT: -1 must be at least 0"},
		{"a negative subject cap is refused", func(c *Config) { c.MaxConnectionsPerSubject = -1 }, "ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT: -1 must be at least 0"},
		{"a negative address cap is refused", func(c *Config) { c.MaxConnectionsPerAddress = -1 }, "ARQONBUS_MAX_CONNECTIONS_PER_ADDRESS: -1 must be at least 0"},
		{"a short ops token is refused", func(c *Config) { c.OpsToken = "fifteen-bytes.." }, "ARQONBUS_OPS_TOKEN: is 15 bytes; a bearer token must be at least 16 bytes"},
		{"a 16-byte ops token is enough", func(c *Config) { c.OpsToken = "sixteen-bytes..." }, ""},
		{"a history budget under 1 MiB is refused", func(c *Config) { c.HistoryMaxBytes, c.HistoryTenantMaxBytes = 1<<20-1, 1<<20-1 }, "ARQONBUS_HISTORY_MAX_BYTES: 1048575 is out of range 1048576.."},
		{"a tenant share over the node budget is refused", func(c *Config) { c.HistoryMaxBytes, c.HistoryTenantMaxBytes = 2<<20, 3<<20 }, "ARQONBUS_HISTORY_TENANT_MAX_BYTES: 3145728 is out of range 1048576..ARQONBUS_HISTORY_MAX_BYTES (2097152)"},
		{"a tenant share equal to the node budget is allowed", func(c *Config) { c.HistoryMaxBytes, c.HistoryTenantMaxBytes = 2<<20, 2<<20 }, ""},
		{"zero concurrent history reads is refused", func(c *Config) { c.HistoryReadsPerTenant = 0 }, "ARQONBUS_HISTORY_READS_PER_TENANT: 0 is out of range 1..1024"},
		{"zero connections is an error", func(c *Config) { c.MaxConnections = 0 }, "ARQONBUS_MAX_CONNECTIONS: 0 must be at least 1"},
		{"one subscription is enough", func(c *Config) { c.MaxSubscriptions = 1 }, ""},
		{"zero subscriptions is an error", func(c *Config) { c.MaxSubscriptions = 0 }, "ARQONBUS_MAX_SUBSCRIPTIONS: 0 must be at least 1"},
		{"one violation is enough", func(c *Config) { c.MaxViolations = 1 }, ""},
		{"zero violations is an error", func(c *Config) { c.MaxViolations = 0 }, "ARQONBUS_MAX_VIOLATIONS: 0 must be at least 1"},
		{"a send queue of one maximum frame is enough", func(c *Config) { c.SendQueueBytes = c.MaxMessageSize }, ""},
		{"a send queue smaller than one frame is an error", func(c *Config) { c.SendQueueBytes = c.MaxMessageSize - 1 },
			"ARQONBUS_SEND_QUEUE_BYTES: 1048575 is smaller than ARQONBUS_MAX_MESSAGE_SIZE (1048576); the send queue must hold at least one frame of the maximum size"},
		{"rate limit 0 disables it, burst 0 allowed", func(c *Config) { c.RateLimitPerSecond, c.RateLimitBurst = 0, 0 }, ""},
		{"a negative rate limit is an error", func(c *Config) { c.RateLimitPerSecond = -1 }, "ARQONBUS_RATE_LIMIT_PER_SECOND: -1 must be at least 0"},
		{"a negative burst is an error even when off", func(c *Config) { c.RateLimitPerSecond, c.RateLimitBurst = 0, -1 }, "ARQONBUS_RATE_LIMIT_BURST: -1 must be at least 0"},
		{"burst 1 is enough while rate limiting", func(c *Config) { c.RateLimitBurst = 1 }, ""},
		{"burst 0 while rate limiting is an error", func(c *Config) { c.RateLimitBurst = 0 },
			"ARQONBUS_RATE_LIMIT_BURST: 0 must be at least 1 while rate limiting is on (ARQONBUS_RATE_LIMIT_PER_SECOND=1000)"},
		{"a 1ns grace is positive", func(c *Config) { c.RateLimitGrace = time.Nanosecond }, ""},
		{"a zero grace is an error", func(c *Config) { c.RateLimitGrace = 0 }, "ARQONBUS_RATE_LIMIT_GRACE: 0s must be a positive duration"},
		{"a zero ping interval is an error", func(c *Config) { c.PingInterval = 0 }, "ARQONBUS_PING_INTERVAL: 0s must be a positive duration"},
		{"a negative pong timeout is an error", func(c *Config) { c.PongTimeout = -time.Second }, "ARQONBUS_PONG_TIMEOUT: -1s must be a positive duration"},
		{"a zero handshake timeout is an error", func(c *Config) { c.HandshakeTimeout = 0 }, "ARQONBUS_HANDSHAKE_TIMEOUT: 0s must be a positive duration"},
		{"a zero write timeout is an error", func(c *Config) { c.WriteTimeout = 0 }, "ARQONBUS_WRITE_TIMEOUT: 0s must be a positive duration"},
		{"a zero shutdown timeout is an error", func(c *Config) { c.ShutdownTimeout = 0 }, "ARQONBUS_SHUTDOWN_TIMEOUT: 0s must be a positive duration"},
		{"a zero Redis timeout is an error", func(c *Config) { c.RedisTimeout = 0 }, "ARQONBUS_REDIS_TIMEOUT: 0s must be a positive duration"},
		{"a zero leeway is valid", func(c *Config) { c.AuthLeeway = 0 }, ""},
		{"a negative leeway is an error", func(c *Config) { c.AuthLeeway = -time.Nanosecond }, "ARQONBUS_AUTH_LEEWAY: -1ns is out of range 0s..5m0s"},
		{"a leeway of 300s is the maximum", func(c *Config) { c.AuthLeeway = 300 * time.Second }, ""},
		{"a leeway over 300s is an error", func(c *Config) { c.AuthLeeway = 301 * time.Second }, "ARQONBUS_AUTH_LEEWAY: 5m1s is out of range 0s..5m0s"},
		{"a zero history TTL keeps streams", func(c *Config) { c.HistoryTTL = 0 }, ""},
		{"a negative history TTL is an error", func(c *Config) { c.HistoryTTL = -time.Second }, "ARQONBUS_HISTORY_TTL: -1s must not be negative"},
		{"a history of one is enough", func(c *Config) { c.MaxHistorySize = 1 }, ""},
		{"a history of zero is an error", func(c *Config) { c.MaxHistorySize = 0 }, "ARQONBUS_MAX_HISTORY_SIZE: 0 must be at least 1"},
		{"origin * is allowed in dev", func(c *Config) { c.AllowedOrigins = []string{"*"} }, ""},
		{"origin * is refused in staging", func(c *Config) { c.Environment = ProfileStaging; c.AllowedOrigins = []string{"https://a.example", "*"} },
			`ARQONBUS_ALLOWED_ORIGINS: "*" is allowed only in dev (profile is staging)`},
		{"origin * is refused in prod", func(c *Config) { c.Environment = ProfileProd; c.AllowedOrigins = []string{"*"} },
			`ARQONBUS_ALLOWED_ORIGINS: "*" is allowed only in dev (profile is prod)`},
		{"strict storage on memory is refused in dev", func(c *Config) { c.StorageMode = ModeStrict },
			`ARQONBUS_STORAGE_MODE: strict needs ARQONBUS_STORAGE_BACKEND=redis (backend is "memory"; only Redis can be strict)`},
		{"strict storage on memory is refused in prod", func(c *Config) { c.Environment = ProfileProd; c.StorageMode = ModeStrict },
			"ARQONBUS_STORAGE_MODE: strict needs ARQONBUS_STORAGE_BACKEND=redis"},
		{"strict storage on redis is valid", func(c *Config) {
			c.StorageMode, c.StorageBackend, c.RedisURL = ModeStrict, BackendRedis, "redis://h:6379"
		}, ""},
		{"the redis backend needs a URL", func(c *Config) { c.StorageBackend = BackendRedis }, "ARQONBUS_REDIS_URL: must be set when ARQONBUS_STORAGE_BACKEND=redis"},
		{"rediss is a valid scheme", func(c *Config) { c.RedisURL = "rediss://user:pw@h.example:6380/2" }, ""},
		{"http is not a Redis scheme", func(c *Config) { c.RedisURL = "http://h:6379" }, `ARQONBUS_REDIS_URL: scheme "http" is not redis or rediss (in http://h:6379)`},
		{"a URL without host is refused", func(c *Config) { c.RedisURL = "redis:///0" }, "ARQONBUS_REDIS_URL: has no host"},
		{"host:port without scheme does not parse", func(c *Config) { c.RedisURL = "localhost:6379" }, "ARQONBUS_REDIS_URL: cannot be parsed as a URL"},
		{"a bad database is refused", func(c *Config) { c.RedisURL = "redis://h/zero" }, `ARQONBUS_REDIS_URL: database "zero" is not a non-negative number`},
		{"port 0 in the URL is refused", func(c *Config) { c.RedisURL = "redis://h:0" }, `ARQONBUS_REDIS_URL: port "0" is out of range 1..65535`},
		{"an unknown backend in a hand-built config is refused", func(c *Config) { c.StorageBackend = "redis_streams" }, `ARQONBUS_STORAGE_BACKEND: "redis_streams" is not one of`},
		{"an unknown mode is refused", func(c *Config) { c.StorageMode = "" }, `ARQONBUS_STORAGE_MODE: "" is not one of strict, degraded`},
		{"an unknown log level is refused", func(c *Config) { c.LogLevel = "INFO" }, `ARQONBUS_LOG_LEVEL: "INFO" is not one of`},
		{"an unknown log format is refused", func(c *Config) { c.LogFormat = "logfmt" }, `ARQONBUS_LOG_FORMAT: "logfmt" is not one of`},
		{"an alias as profile in a hand-built config is refused", func(c *Config) { c.Environment = "production" }, `ARQONBUS_ENVIRONMENT: "production" is not a profile`},
		{"every listed algorithm is accepted", func(c *Config) { c.AuthJWTAlgorithms = append([]string(nil), algorithms...) }, ""},
		{"none is refused", func(c *Config) { c.AuthJWTAlgorithms = []string{"HS256", "none"} }, `ARQONBUS_AUTH_JWT_ALGORITHMS: "none" is never accepted`},
		{"NONE in capitals is refused", func(c *Config) { c.AuthJWTAlgorithms = []string{"NONE"} }, `ARQONBUS_AUTH_JWT_ALGORITHMS: "NONE" is never accepted`},
		{"None in mixed case is refused", func(c *Config) { c.AuthJWTAlgorithms = []string{"None"} }, `"None" is never accepted`},
		{"hs256 in lower case is refused with a hint", func(c *Config) { c.AuthJWTAlgorithms = []string{"hs256"} },
			`ARQONBUS_AUTH_JWT_ALGORITHMS: "hs256" is not a supported algorithm`},
		{"eddsa in lower case is refused", func(c *Config) { c.AuthJWTAlgorithms = []string{"eddsa"} }, "did you mean EdDSA?"},
		{"an unknown algorithm is refused", func(c *Config) { c.AuthJWTAlgorithms = []string{"HS1024"} }, `"HS1024" is not a supported algorithm`},
		{"an empty algorithm list is refused", func(c *Config) { c.AuthJWTAlgorithms = nil }, "ARQONBUS_AUTH_JWT_ALGORITHMS: must list at least one algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(ProfileDev)
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			probs := asProblems(t, err)
			assert.Len(t, probs, 1, "%q", probs)
			assert.Contains(t, probs[0], tt.want)
		})
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	c := Default(ProfileProd)
	c.Port = -5
	c.MaxJSONDepth = 0
	c.PingInterval = 0
	c.AllowedOrigins = []string{"*"}
	c.StorageMode = ModeStrict
	c.AuthJWTAlgorithms = []string{"none"}
	probs := asProblems(t, c.Validate())
	assert.Len(t, probs, 6, "%q", probs)
	for _, p := range probs {
		assert.True(t, strings.HasPrefix(p, "ARQONBUS_"), "every problem names its variable: %q", p)
	}
}

func TestValidateNeverEchoesTheRedisPassword(t *testing.T) {
	const pw = "hunter2-correct-horse"
	for _, raw := range []string{
		"http://user:" + pw + "@h:6379",
		"redis://:" + pw + "@h/not-a-db",
		"redis://:" + pw + "@:6379",
		"redis://:" + pw + "@h:99999",
		"redis://:" + pw + "@h:6379/%zz",
		"redis::" + pw + "@h",
		"redis://" + pw + "@h/x",
		" redis://:" + pw + "@h",
	} {
		t.Run(quote(raw), func(t *testing.T) {
			c := Default(ProfileDev)
			c.RedisURL = raw
			err := c.Validate()
			require.Error(t, err)
			assert.NotContains(t, err.Error(), pw)
		})
	}
}
