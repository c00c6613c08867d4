package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Environment variables the Redis harness reads.
const (
	// EnvRedisURL names an external Redis to share (redis://, rediss:// or unix://).
	// It has no fault controls: RedisWithFaults ignores it.
	EnvRedisURL = "ARQONBUS_TEST_REDIS_URL"
	// EnvRedisImage names the image for container-backed Redis. Unset: redis:7-alpine
	// if the engine has it, else the newest image scripts/redis-image.sh built on
	// this engine, else redis:7-alpine, pulled.
	EnvRedisImage = "ARQONBUS_TEST_REDIS_IMAGE"
	// EnvRedisMode forces one way of getting Redis: url, container or process.
	// Unset (or auto) tries them in that order.
	EnvRedisMode = "ARQONBUS_TEST_REDIS_MODE"
)

// Kinds of Redis a RedisServer can be, as Kind reports them.
const (
	RedisKindURL       = "url"
	RedisKindContainer = "container"
	RedisKindProcess   = "process"
)

const (
	redisModeAuto     = "auto"
	defaultRedisImage = "redis:7-alpine"
	redisHowTo        = "set " + EnvRedisURL + ", start a Docker engine (and run scripts/redis-image.sh where no registry is reachable), or install redis-server (apt-get install -y redis-server)"
	redisFaultsHowTo  = "fault controls need a Docker engine or redis-server on PATH (apt-get install -y redis-server); " + EnvRedisURL + " alone offers none"
	redisEnvCI        = "CI"
	tcEnvRyukOff      = "TESTCONTAINERS_RYUK_DISABLED"
	tcEnvHostOverride = "TESTCONTAINERS_HOST_OVERRIDE"
)

// redisAvailability says which ways of getting Redis this machine offers. The functions
// are called lazily, in the order the modes are tried.
type redisAvailability struct {
	url       string
	container func() error
	process   func() error
}

// pickRedisKind chooses how to get Redis for mode. It returns the kind, or a one-line
// reason why none fits (the caller skips, or fails under CI), or an error for a
// mode that does not exist. With faults set, the url kind is never chosen.
func pickRedisKind(mode string, faults bool, av redisAvailability) (kind, redisUnavailable string, err error) {
	mode = strings.ToLower(strings.TrimSpace(mode))
	switch mode {
	case "", redisModeAuto:
		if av.url != "" && !faults {
			return RedisKindURL, "", nil
		}
		cerr := av.container()
		if cerr == nil {
			return RedisKindContainer, "", nil
		}
		perr := av.process()
		if perr == nil {
			return RedisKindProcess, "", nil
		}
		how := redisHowTo
		if faults {
			how = redisFaultsHowTo
		}
		return "", fmt.Sprintf("no Redis for tests (docker: %s; redis-server: %s): %s", redisOneLine(cerr), redisOneLine(perr), how), nil
	case RedisKindURL:
		if faults {
			return "", EnvRedisMode + "=url: " + redisFaultsHowTo, nil
		}
		if av.url == "" {
			return "", EnvRedisMode + "=url but " + EnvRedisURL + " is not set", nil
		}
		return RedisKindURL, "", nil
	case RedisKindContainer:
		if err := av.container(); err != nil {
			return "", fmt.Sprintf("%s=container but no Docker engine: %s", EnvRedisMode, redisOneLine(err)), nil
		}
		return RedisKindContainer, "", nil
	case RedisKindProcess:
		if err := av.process(); err != nil {
			return "", fmt.Sprintf("%s=process but %s (apt-get install -y redis-server)", EnvRedisMode, redisOneLine(err)), nil
		}
		return RedisKindProcess, "", nil
	default:
		return "", "", fmt.Errorf("%s=%q: want auto, url, container or process", EnvRedisMode, mode)
	}
}

// redisOneLine flattens err for a one-line message.
func redisOneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// redisUnderCI reports whether getenv says we run in CI, where no test may skip for a
// missing dependency.
func redisUnderCI(getenv func(string) string) bool {
	ci, err := strconv.ParseBool(getenv(redisEnvCI))
	return err == nil && ci
}

// redisUnavailable ends the test for a missing Redis: a skip with a how-to, or a failure
// under CI.
func redisUnavailable(t testing.TB, getenv func(string) string, reason string) {
	t.Helper()
	if redisUnderCI(getenv) {
		t.Fatalf("redistest: %s (CI=true: a missing Redis fails instead of skipping)", reason)
	}
	t.Skipf("redistest: %s", reason)
}
