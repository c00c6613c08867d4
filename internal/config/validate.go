package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits checked by Validate.
const (
	minMessageSize = 1024     // bytes; smaller cannot carry a useful envelope
	maxMessageSize = 64 << 20 // bytes (64 MiB); larger frames are a memory risk per connection
	maxJSONDepth   = 1000
	maxLeeway      = 300 * time.Second
	// maxStoreValueBytes bounds ARQONBUS_STORE_MAX_VALUE_BYTES (16 MiB):
	// a value travels in one frame, and Redis holds it in one hash field.
	maxStoreValueBytes = 16 << 20
	// maxStoreKeys bounds ARQONBUS_STORE_MAX_KEYS (keys per tenant).
	maxStoreKeys = 100_000_000
	// Bounds of the cron lane's settings.
	minCronInterval      = 100 * time.Millisecond
	maxCronInterval      = 24 * time.Hour
	maxCronJobsPerClient = 100_000
	maxCronJobs          = 10_000_000
	maxLinger            = 10 * time.Millisecond
	maxTaskQueue         = 10_000_000
	maxTaskPrefetch      = 1000
	maxTaskAttempts      = 100
	maxTaskBytes         = 16 << 20
	maxTaskGroups        = 1024
	maxGCHeapFloor       = min(64<<30, math.MaxInt) // bytes (64 GiB; less where int is 32 bits)
	minHistoryBytes      = 1 << 20                  // bytes (1 MiB)
	maxHistoryBytes      = min(64<<30, math.MaxInt) // bytes (64 GiB; less where int is 32 bits)
	maxHistoryReads      = 1024
	minOpsToken          = 16 // bytes
	// minSecretLen is the HMAC key length the strict preflight demands (bytes).
	minSecretLen = 32
)

// algorithms is the JWT allow-list vocabulary, exact case. "none" is never
// accepted: an unsigned token must not authenticate anyone.
var algorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"ES256", "ES384", "ES512",
	"PS256", "PS384", "PS512",
	"EdDSA",
}

// Validate checks ranges and cross-field rules and returns a *Problems
// with every violation, each naming the variable to change, or nil. It
// does no I/O (file and Redis checks belong to Preflight), so it is cheap
// enough for tests and for Config values built in code.
func (c *Config) Validate() error {
	var probs Problems
	for _, p := range c.validate() {
		probs.add(p.text)
	}
	return probs.err()
}

// validator collects findings.
type validator struct{ list []problem }

func (v *validator) add(vars []string, format string, args ...any) {
	v.list = append(v.list, problem{vars: vars, text: vars[0] + ": " + fmt.Sprintf(format, args...)})
}

func (v *validator) intRange(name string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add([]string{name}, "%d is out of range %d..%d", n, lo, hi)
	}
}

func (v *validator) atLeast(name string, n, lo int) {
	if n < lo {
		v.add([]string{name}, "%d must be at least %d", n, lo)
	}
}

func (v *validator) positive(name string, d time.Duration) {
	if d <= 0 {
		v.add([]string{name}, "%s must be a positive duration", d)
	}
}

func (v *validator) durationRange(name string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add([]string{name}, "%s is out of range %s..%s", d, lo, hi)
	}
}

func (v *validator) enum(name, value string, e enum) {
	if canon, ok := e.values[value]; !ok || canon != value {
		v.add([]string{name}, "%s is not one of %s", quote(value), e.text)
	}
}

// validate returns every finding with the variables it concerns.
func (c *Config) validate() []problem {
	var v validator

	if p, err := NormalizeProfile(c.Environment); err != nil || p != c.Environment {
		v.add([]string{varEnvironment}, "%s is not a profile; accepted: dev, staging, prod", quote(c.Environment))
	}

	v.intRange(varPort, c.Port, 0, 65535)
	v.intRange(varHTTPPort, c.HTTPPort, 0, 65535)
	if c.HTTPPort != 0 && c.HTTPPort == c.Port {
		v.add([]string{varHTTPPort, varPort}, "%d is also ARQONBUS_SERVER_PORT; use 0 to share the WebSocket port or pick another port", c.HTTPPort)
	}

	v.intRange(varMaxMessageSize, c.MaxMessageSize, minMessageSize, maxMessageSize)
	v.intRange(varMaxJSONDepth, c.MaxJSONDepth, 1, maxJSONDepth)
	v.intRange(varGCHeapFloor, c.GCHeapFloor, 0, maxGCHeapFloor)
	v.atLeast(varMaxConns, c.MaxConnections, 1)
	v.atLeast(VarMaxConnsPerTenant, c.MaxConnectionsPerTenant, 0)
	v.atLeast(VarMaxConnsPerSubject, c.MaxConnectionsPerSubject, 0)
	v.atLeast(VarMaxConnsPerAddress, c.MaxConnectionsPerAddress, 0)
	v.atLeast(VarTenantRateLimit, c.TenantRateLimitPerSecond, 0)
	if c.OpsToken != "" && len(c.OpsToken) < minOpsToken {
		v.add([]string{VarOpsToken}, "is %d bytes; a bearer token must be at least %d bytes (or empty for open ops endpoints)", len(c.OpsToken), minOpsToken)
	}
	v.atLeast(varMaxSubs, c.MaxSubscriptions, 1)
	v.atLeast(varMaxViolations, c.MaxViolations, 1)
	if c.SendQueueBytes < c.MaxMessageSize {
		v.add([]string{varSendQueue, varMaxMessageSize},
			"%d is smaller than ARQONBUS_MAX_MESSAGE_SIZE (%d); the send queue must hold at least one frame of the maximum size",
			c.SendQueueBytes, c.MaxMessageSize)
	}
	v.atLeast(varRate, c.RateLimitPerSecond, 0)
	if c.RateLimitPerSecond > 0 {
		if c.RateLimitBurst < 1 {
			v.add([]string{varBurst, varRate}, "%d must be at least 1 while rate limiting is on (ARQONBUS_RATE_LIMIT_PER_SECOND=%d)",
				c.RateLimitBurst, c.RateLimitPerSecond)
		}
	} else {
		v.atLeast(varBurst, c.RateLimitBurst, 0)
	}

	v.positive(varGrace, c.RateLimitGrace)
	v.positive(varPing, c.PingInterval)
	v.positive(varPong, c.PongTimeout)
	v.positive(varHandshake, c.HandshakeTimeout)
	v.positive(varWrite, c.WriteTimeout)
	v.positive(varShutdown, c.ShutdownTimeout)
	v.positive(varRedisTimeout, c.RedisTimeout)
	if c.AuthLeeway < 0 || c.AuthLeeway > maxLeeway {
		v.add([]string{VarAuthLeeway}, "%s is out of range 0s..%s", c.AuthLeeway, maxLeeway)
	}
	if c.RedisBatchLinger < 0 || c.RedisBatchLinger > maxLinger {
		v.add([]string{varRedisLinger}, "%s is out of range 0s..%s", c.RedisBatchLinger, maxLinger)
	}
	if c.HistoryTTL < 0 {
		v.add([]string{varHistoryTTL}, "%s must not be negative (0 keeps streams)", c.HistoryTTL)
	}
	v.atLeast(varHistorySize, c.MaxHistorySize, 1)
	v.intRange(VarHistoryMaxBytes, c.HistoryMaxBytes, minHistoryBytes, maxHistoryBytes)
	if budget := c.HistoryMaxBytes; budget >= minHistoryBytes && budget <= maxHistoryBytes &&
		(c.HistoryTenantMaxBytes < minHistoryBytes || c.HistoryTenantMaxBytes > budget) {
		v.add([]string{VarHistoryTenantBytes, VarHistoryMaxBytes}, "%d is out of range %d..ARQONBUS_HISTORY_MAX_BYTES (%d)",
			c.HistoryTenantMaxBytes, minHistoryBytes, c.HistoryMaxBytes)
	}
	v.intRange(VarHistoryReadsTenant, c.HistoryReadsPerTenant, 1, maxHistoryReads)
	v.intRange(VarHistoryReadBytesRate, c.HistoryReadBytesPerSecond, 0, maxHistoryBytes)
	v.intRange(VarStoreMaxValueBytes, c.StoreMaxValueBytes, 1, maxStoreValueBytes)
	v.intRange(VarStoreMaxKeys, c.StoreMaxKeys, 1, maxStoreKeys)
	v.durationRange(VarCronMinInterval, c.CronMinInterval, minCronInterval, maxCronInterval)
	v.intRange(VarCronMaxJobsPerClient, c.CronMaxJobsPerClient, 1, maxCronJobsPerClient)
	v.intRange(VarCronMaxJobs, c.CronMaxJobs, 1, maxCronJobs)
	v.intRange(VarTaskQueueMax, c.TaskQueueMax, 1, maxTaskQueue)
	v.intRange(VarTaskPrefetch, c.TaskPrefetch, 1, maxTaskPrefetch)
	v.intRange(VarTaskMaxAttempts, c.TaskMaxAttempts, 1, maxTaskAttempts)
	v.intRange(VarTaskMaxBytes, c.TaskMaxBytes, 2, maxTaskBytes)
	v.intRange(VarTaskMaxGroups, c.TaskMaxGroupsPerWorker, 1, maxTaskGroups)
	v.durationRange(VarTaskVisibility, c.TaskVisibilityTimeout, 100*time.Millisecond, 24*time.Hour)
	v.durationRange(VarTaskResultTTL, c.TaskResultTTL, time.Second, 720*time.Hour)
	v.durationRange(VarTaskPollInterval, c.TaskPollInterval, 10*time.Millisecond, 10*time.Second)

	for _, o := range c.AllowedOrigins {
		if o == "*" && c.profile() != ProfileDev {
			v.add([]string{varOrigins, varEnvironment}, "\"*\" is allowed only in dev (profile is %s); list the origins", c.Environment)
			break
		}
	}

	c.validateAlgorithms(&v)

	v.enum(varBackend, c.StorageBackend, backendEnum)
	v.enum(varMode, c.StorageMode, modeEnum)
	v.enum(varLogLevel, c.LogLevel, logLevelEnum)
	v.enum(varLogFormat, c.LogFormat, logFormatEnum)
	if c.StorageMode == ModeStrict && c.StorageBackend != BackendRedis {
		v.add([]string{varMode, varBackend}, "strict needs ARQONBUS_STORAGE_BACKEND=redis (backend is %s; only Redis can be strict)", quote(c.StorageBackend))
	}
	if c.StorageBackend == BackendRedis && c.RedisURL == "" {
		v.add([]string{VarRedisURL, varBackend}, "must be set when ARQONBUS_STORAGE_BACKEND=redis")
	}
	if c.RedisURL != "" {
		if err := checkRedisURL(c.RedisURL); err != "" {
			v.add([]string{VarRedisURL}, "%s", err)
		}
	}
	return v.list
}

// validateAlgorithms checks the JWT allow-list: known names in exact case
// (the verifier compares the header's alg without case folding), never
// "none", at least one entry.
func (c *Config) validateAlgorithms(v *validator) {
	if len(c.AuthJWTAlgorithms) == 0 {
		v.add([]string{VarAuthJWTAlgorithms}, "must list at least one algorithm (%s)", strings.Join(algorithms, ", "))
	}
	for _, a := range c.AuthJWTAlgorithms {
		if strings.EqualFold(a, "none") {
			v.add([]string{VarAuthJWTAlgorithms}, "%s is never accepted: unsigned tokens would authenticate anyone", quote(a))
			continue
		}
		if isAlgorithm(a) {
			continue
		}
		hint := ""
		for _, known := range algorithms {
			if strings.EqualFold(a, known) {
				hint = "; names are case-sensitive, did you mean " + known + "?"
			}
		}
		v.add([]string{VarAuthJWTAlgorithms}, "%s is not a supported algorithm (%s)%s", quote(a), strings.Join(algorithms, ", "), hint)
	}
}

// isAlgorithm reports whether a is a supported algorithm, exact case.
func isAlgorithm(a string) bool {
	for _, known := range algorithms {
		if a == known {
			return true
		}
	}
	return false
}

// isHMAC reports whether a is an HMAC algorithm.
func isHMAC(a string) bool { return strings.HasPrefix(a, "HS") && isAlgorithm(a) }

// checkRedisURL returns why raw is not a usable Redis URL, or "". The text
// never contains the URL's password, and for an unparsable URL not even
// the URL (url.Parse errors quote their input).
func checkRedisURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "cannot be parsed as a URL (expected redis://[user:password@]host:port[/db] or rediss://...)"
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Sprintf("scheme %s is not redis or rediss (in %s)", quote(u.Scheme), RedactURL(raw))
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("has no host (in %s)", RedactURL(raw))
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port %s is out of range 1..65535 (in %s)", quote(port), RedactURL(raw))
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Sprintf("database %s is not a non-negative number (in %s)", quote(db), RedactURL(raw))
		}
	}
	return ""
}
