// Package config reads ArqonBus's configuration from ARQONBUS_* variables and
// matching `arqonbus serve` flags (a flag wins over its variable), normalises
// the profile, validates every value and runs the strict preflight. It imports
// nothing of ours. Config is read once, in package app.
//
// Concurrency: the package keeps no mutable state. A Config is a plain
// value; once loaded it is only read, so sharing it between goroutines is
// safe as long as nobody writes to it.
package config

import "time"

// Profiles.
const (
	ProfileDev     = "dev"
	ProfileStaging = "staging"
	ProfileProd    = "prod"
)

// Config is the whole server configuration. Each field documents its variable
// and default; Default(profile) returns the defaults for a profile.
type Config struct {
	// Environment is the normalised profile: dev, staging or prod.
	// ARQONBUS_ENVIRONMENT, default dev.
	Environment string

	// Host is the listen host. ARQONBUS_SERVER_HOST, default 127.0.0.1.
	Host string
	// Port is the WebSocket (and shared HTTP) port; 0 picks a free port.
	// ARQONBUS_SERVER_PORT, default 9100.
	Port int
	// HTTPPort, when non-zero, serves the ops endpoints on a separate port.
	// ARQONBUS_HTTP_PORT, default 0 (share the WebSocket port).
	HTTPPort int

	// MaxMessageSize is the frame limit in bytes (min 1024).
	// ARQONBUS_MAX_MESSAGE_SIZE, default 1048576.
	MaxMessageSize int
	// MaxJSONDepth bounds JSON nesting. ARQONBUS_MAX_JSON_DEPTH, default 32.
	MaxJSONDepth int
	// AllowedOrigins lists browser origins allowed to connect; empty means
	// same-origin and non-browser clients only; "*" is dev-only.
	// ARQONBUS_ALLOWED_ORIGINS (comma list), default empty.
	AllowedOrigins []string
	// MaxConnections caps open connections. ARQONBUS_MAX_CONNECTIONS, default 10000.
	MaxConnections int
	// MaxConnectionsPerTenant caps the open connections of one tenant
	// (authenticated connections only); 0 is no cap.
	// ARQONBUS_MAX_CONNECTIONS_PER_TENANT, default 2500.
	MaxConnectionsPerTenant int
	// MaxConnectionsPerSubject caps the open connections of one (tenant,
	// sub) (authenticated connections only); 0 is no cap.
	// ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT, default 100.
	MaxConnectionsPerSubject int
	// MaxConnectionsPerAddress caps the open connections of one remote IP
	// that carry no token identity (auth off); 0 is no cap.
	// ARQONBUS_MAX_CONNECTIONS_PER_ADDRESS, default 0.
	MaxConnectionsPerAddress int
	// TenantRateLimitPerSecond bounds the frames per second of all of one
	// tenant's connections together on this node (authenticated
	// connections, while the per-connection rate limit is on); 0 is no
	// bound. ARQONBUS_TENANT_RATE_LIMIT_PER_SECOND, default 0.
	TenantRateLimitPerSecond int
	// MaxSubscriptions caps (room, channel) pairs per client.
	// ARQONBUS_MAX_SUBSCRIPTIONS, default 128.
	MaxSubscriptions int
	// MaxViolations is the number of protocol violations per minute after
	// which a connection is closed with 1008. ARQONBUS_MAX_VIOLATIONS, default 20.
	MaxViolations int
	// SendQueueBytes bounds each client's send queue; overflow closes with 4008.
	// ARQONBUS_SEND_QUEUE_BYTES, default 1048576.
	SendQueueBytes int
	// RateLimitPerSecond is the sustained frame rate per connection; 0
	// disables rate limiting. ARQONBUS_RATE_LIMIT_PER_SECOND, default 1000.
	RateLimitPerSecond int
	// RateLimitBurst is the token bucket size. ARQONBUS_RATE_LIMIT_BURST, default 2000.
	RateLimitBurst int
	// RateLimitGrace is how long a client may stay over its limit before it
	// is closed with 4029. ARQONBUS_RATE_LIMIT_GRACE, default 5s.
	RateLimitGrace time.Duration
	// RequireMembership makes publishing to a pair require membership.
	// ARQONBUS_REQUIRE_MEMBERSHIP, default false.
	RequireMembership bool
	// PingInterval is the keepalive ping period. ARQONBUS_PING_INTERVAL, default 20s.
	PingInterval time.Duration
	// PongTimeout is how long to wait for a pong. ARQONBUS_PONG_TIMEOUT, default 10s.
	PongTimeout time.Duration
	// HandshakeTimeout bounds reading the HTTP upgrade request.
	// ARQONBUS_HANDSHAKE_TIMEOUT, default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one socket write. ARQONBUS_WRITE_TIMEOUT, default 10s.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the drain on SIGTERM. ARQONBUS_SHUTDOWN_TIMEOUT, default 10s.
	ShutdownTimeout time.Duration

	// EnableAuth turns JWT authentication on. ARQONBUS_ENABLE_AUTH, default
	// false in dev; staging and prod require true.
	EnableAuth bool
	// AuthAllowQueryToken accepts ?token=, ?access_token=, ?auth_token=.
	// ARQONBUS_AUTH_ALLOW_QUERY_TOKEN, default true in dev and staging, false in prod.
	AuthAllowQueryToken bool
	// AuthJWTSecret is the HMAC key. ARQONBUS_AUTH_JWT_SECRET. Secret.
	AuthJWTSecret string
	// AuthJWTPublicKeyFile is a PEM public key (RSA, ECDSA, Ed25519).
	// ARQONBUS_AUTH_JWT_PUBLIC_KEY_FILE.
	AuthJWTPublicKeyFile string
	// AuthJWKSFile is a JWK set; keys are chosen by kid. ARQONBUS_AUTH_JWKS_FILE.
	AuthJWKSFile string
	// AuthJWTAlgorithms is the algorithm allow-list.
	// ARQONBUS_AUTH_JWT_ALGORITHMS (comma list), default HS256.
	AuthJWTAlgorithms []string
	// AuthLeeway is the clock skew allowed on exp/nbf/iat (0..300s).
	// ARQONBUS_AUTH_LEEWAY, default 30s.
	AuthLeeway time.Duration
	// AuthIssuer, when set, must equal the iss claim. ARQONBUS_AUTH_ISSUER.
	AuthIssuer string
	// AuthAudience, when set, must be in the aud claim. ARQONBUS_AUTH_AUDIENCE.
	AuthAudience string
	// AuthRequireTenant requires a tenant_id claim.
	// ARQONBUS_AUTH_REQUIRE_TENANT, default false in dev, true in staging/prod.
	AuthRequireTenant bool

	// PreflightStrict forces the strict preflight in dev.
	// ARQONBUS_PREFLIGHT_STRICT, default false.
	PreflightStrict bool
	// OpsToken, when set, is the bearer token /metrics and /status
	// require. ARQONBUS_OPS_TOKEN, default empty.
	OpsToken string

	// EnablePrototypeRSI opens the experimental lanes outside dev.
	// ARQONBUS_ENABLE_PROTOTYPE_RSI, default false.
	EnablePrototypeRSI bool

	// StorageBackend is memory or redis (alias redis_streams).
	// ARQONBUS_STORAGE_BACKEND, default memory.
	StorageBackend string
	// StorageMode is strict or degraded. ARQONBUS_STORAGE_MODE, default degraded.
	StorageMode string
	// EnablePersistence decides whether messages are stored at all.
	// ARQONBUS_ENABLE_PERSISTENCE, default true.
	EnablePersistence bool
	// MaxHistorySize is the per-(tenant, room, channel) history length.
	// ARQONBUS_MAX_HISTORY_SIZE, default 10000.
	MaxHistorySize int
	// HistoryTTL drops the history of a (tenant, room, channel) that had no
	// new message for this long, in Redis (EXPIRE) and in memory (a sweep);
	// 0 keeps it. ARQONBUS_HISTORY_TTL, default 24h.
	HistoryTTL time.Duration
	// HistoryMaxBytes bounds the history held in memory on this node (the
	// memory backend, and the fallback of degraded mode); the oldest
	// messages are evicted first. ARQONBUS_HISTORY_MAX_BYTES, default 256 MiB.
	HistoryMaxBytes int
	// HistoryTenantMaxBytes is the share of HistoryMaxBytes one tenant may
	// hold; past it that tenant's oldest messages go first.
	// ARQONBUS_HISTORY_TENANT_MAX_BYTES, default 64 MiB.
	HistoryTenantMaxBytes int
	// HistoryReadsPerTenant bounds the history reads of one tenant running
	// at once on this node. ARQONBUS_HISTORY_READS_PER_TENANT, default 4.
	HistoryReadsPerTenant int
	// HistoryReadBytesPerSecond bounds the bytes of history one tenant
	// reads per second on this node (a token bucket holding one second);
	// 0 is no bound. ARQONBUS_HISTORY_READ_BYTES_PER_SECOND, default 4 MiB.
	HistoryReadBytesPerSecond int
	// StoreMaxValueBytes bounds an op.store value, counted on its JSON as
	// sent. ARQONBUS_STORE_MAX_VALUE_BYTES, default 65536.
	StoreMaxValueBytes int
	// StoreMaxKeys bounds the op.store keys of one tenant.
	// ARQONBUS_STORE_MAX_KEYS, default 10000.
	StoreMaxKeys int
	// CronMinInterval is the shortest interval between the firings of a
	// cron job. ARQONBUS_CRON_MIN_INTERVAL, default 1s.
	CronMinInterval time.Duration
	// CronMaxJobsPerClient bounds the cron jobs of one connection.
	// ARQONBUS_CRON_MAX_JOBS_PER_CLIENT, default 16.
	CronMaxJobsPerClient int
	// CronMaxJobs bounds the cron jobs of one node.
	// ARQONBUS_CRON_MAX_JOBS, default 10000.
	CronMaxJobs int
	// TaskQueueMax bounds the unfinished tasks of one (tenant, group).
	// ARQONBUS_TASK_QUEUE_MAX, default 100000.
	TaskQueueMax int
	// TaskPrefetch bounds the unfinished tasks one worker holds.
	// ARQONBUS_TASK_PREFETCH, default 1.
	TaskPrefetch int
	// TaskVisibilityTimeout is how long a delivered task may stay
	// unfinished before it goes to another worker.
	// ARQONBUS_TASK_VISIBILITY_TIMEOUT, default 30s.
	TaskVisibilityTimeout time.Duration
	// TaskMaxAttempts is the deliveries of one task before it is dead.
	// ARQONBUS_TASK_MAX_ATTEMPTS, default 5.
	TaskMaxAttempts int
	// TaskResultTTL keeps a finished task and its result.
	// ARQONBUS_TASK_RESULT_TTL, default 1h.
	TaskResultTTL time.Duration
	// TaskMaxBytes bounds a task object, counted on its JSON as sent.
	// ARQONBUS_TASK_MAX_BYTES, default 65536.
	TaskMaxBytes int
	// TaskMaxGroupsPerWorker bounds the groups one connection joins.
	// ARQONBUS_TASK_MAX_GROUPS_PER_WORKER, default 16.
	TaskMaxGroupsPerWorker int
	// TaskPollInterval is how often the dispatcher looks for tasks it was
	// not told about (submitted on another node, or whose delivery
	// expired). ARQONBUS_TASK_POLL_INTERVAL, default 100ms.
	TaskPollInterval time.Duration
	// RedisURL is redis:// or rediss:// (password redacted when printed).
	// ARQONBUS_REDIS_URL. Secret in part.
	RedisURL string
	// RedisTimeout bounds every Redis call. ARQONBUS_REDIS_TIMEOUT, default 2s.
	RedisTimeout time.Duration
	// RedisBatchLinger lets a busy batch of history appends wait this long
	// for more (fewer, larger pipelines); 0 sends at once.
	// ARQONBUS_REDIS_BATCH_LINGER, default 0.
	RedisBatchLinger time.Duration

	// LogLevel is debug, info, warn or error. ARQONBUS_LOG_LEVEL, default info.
	LogLevel string
	// LogFormat is text or json; empty picks text in dev, json elsewhere.
	// ARQONBUS_LOG_FORMAT, default empty.
	LogFormat string

	// GCHeapFloor is the least heap the garbage collector lets grow before
	// it collects, in bytes; 0 leaves the collector at GOGC's default, and
	// GOGC in the environment overrides it. ARQONBUS_GC_HEAP_FLOOR, default
	// 67108864 (64 MiB).
	GCHeapFloor int

	// Explicit records which variables or flags were set by the operator
	// (by variable name), for the preflight's "set explicitly" checks.
	Explicit map[string]bool

	// Warnings are non-fatal findings of loading, such as unknown
	// ARQONBUS_* variables (see LoadEnviron); the app logs each at WARN.
	// Not a setting: Print does not show it.
	Warnings []string
}
