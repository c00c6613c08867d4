package config

import "time"

// Default returns the defaults for profile (any alias accepted, "" means
// dev). Only two defaults depend on the profile: query-string tokens are
// off in prod (URLs end up in proxy logs) and a tenant claim is required in
// staging and prod. An unrecognised profile keeps its spelling in
// Environment, so Validate reports it, and gets the prod defaults, the
// safest ones.
func Default(profile string) Config {
	p := ProfileDev
	if profile != "" {
		n, err := NormalizeProfile(profile)
		if err != nil {
			n = profile
		}
		p = n
	}
	return Config{
		Environment: p,

		Host:     "127.0.0.1",
		Port:     9100,
		HTTPPort: 0,

		MaxMessageSize:           1 << 20,
		MaxJSONDepth:             32,
		AllowedOrigins:           nil,
		MaxConnections:           10000,
		MaxConnectionsPerTenant:  2500,
		MaxConnectionsPerSubject: 100,
		MaxConnectionsPerAddress: 0,
		TenantRateLimitPerSecond: 0,
		MaxSubscriptions:         128,
		MaxViolations:            20,
		SendQueueBytes:           1 << 20,
		RateLimitPerSecond:       1000,
		RateLimitBurst:           2000,
		RateLimitGrace:           5 * time.Second,
		RequireMembership:        false,
		PingInterval:             20 * time.Second,
		PongTimeout:              10 * time.Second,
		HandshakeTimeout:         10 * time.Second,
		WriteTimeout:             10 * time.Second,
		ShutdownTimeout:          10 * time.Second,

		EnableAuth:          false,
		AuthAllowQueryToken: p == ProfileDev || p == ProfileStaging,
		AuthJWTAlgorithms:   []string{"HS256"},
		AuthLeeway:          30 * time.Second,
		AuthRequireTenant:   p != ProfileDev,

		PreflightStrict:    false,
		EnablePrototypeRSI: false,

		StorageBackend:            BackendMemory,
		StorageMode:               ModeDegraded,
		EnablePersistence:         true,
		MaxHistorySize:            10000,
		HistoryTTL:                24 * time.Hour,
		HistoryMaxBytes:           256 << 20,
		HistoryTenantMaxBytes:     64 << 20,
		HistoryReadsPerTenant:     4,
		HistoryReadBytesPerSecond: 4 << 20,
		StoreMaxValueBytes:        65536,
		StoreMaxKeys:              10000,
		CronMinInterval:           time.Second,
		CronMaxJobsPerClient:      16,
		CronMaxJobs:               10000,

		TaskQueueMax:           100000,
		TaskPrefetch:           1,
		TaskVisibilityTimeout:  30 * time.Second,
		TaskMaxAttempts:        5,
		TaskResultTTL:          time.Hour,
		TaskMaxBytes:           65536,
		TaskMaxGroupsPerWorker: 16,
		TaskPollInterval:       100 * time.Millisecond,
		RedisTimeout:           2 * time.Second,
		RedisBatchLinger:       0,

		LogLevel:  "info",
		LogFormat: "",

		GCHeapFloor: 64 << 20,

		Explicit: map[string]bool{},
	}
}

// Storage backends and modes, as stored in Config after normalisation.
// config owns these values, as it owns the variables that set them; store
// and app compare with them (store.PolicyOptions.Mode and Backend).
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
	ModeStrict    = "strict"
	ModeDegraded  = "degraded"
)

// EffectiveLogFormat resolves an empty ARQONBUS_LOG_FORMAT: text in dev,
// where people read logs, and JSON elsewhere, where machines do.
func (c *Config) EffectiveLogFormat() string {
	if c.LogFormat != "" {
		return c.LogFormat
	}
	if c.profile() == ProfileDev {
		return "text"
	}
	return "json"
}
