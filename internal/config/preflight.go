package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// PreflightDeps are the checks Preflight cannot do itself, injected so
// that config imports no Redis client and no auth package.
type PreflightDeps struct {
	// PingRedis must return nil when the Redis at url answers PING within
	// timeout (ctx carries the same deadline). Required when the storage
	// mode is strict; a nil PingRedis then fails the preflight.
	PingRedis func(ctx context.Context, url string, timeout time.Duration) error
	// CheckAuth, when not nil, loads and checks the keys deeper than
	// Preflight can (PEM and JWK parsing, key types against algorithms).
	// It runs only when auth is on and the basic key checks passed.
	CheckAuth func(c *Config) error
}

// Preflight runs the startup checks and returns every problem in a
// *Problems (the caller prints them one per line and exits with status 2
// before binding any port) plus warnings to log at WARN.
//
// In every profile: the Validate rules; strict storage mode needs Redis to
// answer PING within ARQONBUS_REDIS_TIMEOUT; auth on needs a usable key
// (fail closed). Under the strict preflight (StrictPreflight) also:
// ARQONBUS_SERVER_HOST, ARQONBUS_SERVER_PORT and ARQONBUS_STORAGE_MODE set
// explicitly, auth on, an HMAC secret of at least 32 bytes, and in prod
// query-string tokens only when set explicitly. Prototype lanes opened
// outside dev are a warning, and so are, in prod, ops endpoints on the
// WebSocket port without ARQONBUS_OPS_TOKEN: /metrics and /status then
// answer anyone who can reach the bus.
func Preflight(ctx context.Context, c *Config, deps PreflightDeps) (warnings []string, err error) {
	var probs Problems
	bad := map[string]bool{}
	for _, p := range c.validate() {
		probs.add(p.text)
		for _, v := range p.vars {
			bad[v] = true
		}
	}

	strict := c.StrictPreflight()
	where := c.strictReason()

	if strict {
		for _, name := range []string{varHost, varPort, varMode} {
			if !c.Explicit[name] {
				probs.add(fmt.Sprintf("%s must be set explicitly %s (flag --%s)", name, where, flagName(name)))
			}
		}
	}

	if c.StorageMode == ModeStrict && c.StorageBackend == BackendRedis && c.RedisURL != "" && !bad[VarRedisURL] && !bad[varRedisTimeout] {
		if msg := pingRedis(ctx, c, deps.PingRedis); msg != "" {
			probs.add(msg)
		}
	}

	if strict && !c.EnableAuth {
		probs.add(fmt.Sprintf("%s must be true %s", VarEnableAuth, where))
	}
	// The strict preflight checks the key even while auth is off, so one run
	// names every variable to set.
	if (c.EnableAuth || strict) && !bad[VarAuthJWTAlgorithms] {
		w, p := c.checkKeys(strict, where)
		warnings = append(warnings, w...)
		for _, text := range p {
			probs.add(text)
		}
		if len(p) == 0 && deps.CheckAuth != nil {
			if err := deps.CheckAuth(c); err != nil {
				for _, text := range splitError(err) {
					probs.add(c.authProblem(c.scrub(text)))
				}
			}
		}
	}

	if c.AuthAllowQueryToken && c.profile() == ProfileProd {
		if c.Explicit[VarAuthAllowQueryToken] {
			warnings = append(warnings, VarAuthAllowQueryToken+"=true in prod: tokens in URLs can end up in proxy and access logs")
		} else {
			probs.add(VarAuthAllowQueryToken + " must be set explicitly to accept query-string tokens in prod")
		}
	}

	if c.profile() == ProfileProd && c.HTTPPort == 0 && c.OpsToken == "" {
		warnings = append(warnings, fmt.Sprintf("%s=0 and %s is empty in prod: /metrics and /status are unauthenticated on the public WebSocket port; "+
			"set %s to serve them on a private interface, or %s to require a bearer token", varHTTPPort, VarOpsToken, varHTTPPort, VarOpsToken))
	}

	if c.EnablePrototypeRSI && c.profile() != ProfileDev {
		warnings = append(warnings, fmt.Sprintf("%s=true: the experimental prototype lanes are open in %s", varPrototypeRSI, c.Environment))
	}

	return warnings, probs.err()
}

// pingRedis asks deps.PingRedis for a PING within RedisTimeout and returns
// the problem text, or "". A missing PingRedis fails closed: strict mode
// must not start without proof that Redis answers.
func pingRedis(ctx context.Context, c *Config, ping func(context.Context, string, time.Duration) error) string {
	prefix := fmt.Sprintf("%s: Redis at %s", VarRedisURL, RedactURL(c.RedisURL))
	if ping == nil {
		return prefix + " cannot be checked (no PING function); ARQONBUS_STORAGE_MODE=strict needs it to answer at startup"
	}
	pctx, cancel := context.WithTimeout(ctx, c.RedisTimeout)
	defer cancel()
	err := ping(pctx, c.RedisURL, c.RedisTimeout)
	if err == nil && pctx.Err() != nil {
		err = pctx.Err()
	}
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%s did not answer PING within %s (ARQONBUS_REDIS_TIMEOUT); ARQONBUS_STORAGE_MODE=strict needs it at startup: %s",
		prefix, c.RedisTimeout, c.scrub(err.Error()))
}

// checkKeys is the fail-closed key check: auth on needs at least one key
// an allowed algorithm can verify with, every key file named must be
// readable, and the strict preflight wants an HMAC secret of 32 bytes or
// more. It returns warnings and problems.
func (c *Config) checkKeys(strict bool, where string) (warnings, problems []string) {
	hmac, asym := false, false
	for _, a := range c.AuthJWTAlgorithms {
		if isHMAC(a) {
			hmac = true
		} else {
			asym = true
		}
	}

	filesOK := false
	fileFailed := false
	for _, f := range []struct{ name, path string }{
		{VarAuthJWTPublicKeyFile, c.AuthJWTPublicKeyFile},
		{VarAuthJWKSFile, c.AuthJWKSFile},
	} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.name, err))
			fileFailed = true
			continue
		}
		filesOK = true
	}

	secret := c.AuthJWTSecret != ""
	switch {
	case hmac && secret, asym && filesOK:
		// A usable key.
	case fileFailed:
		// The unreadable file is the problem to fix.
	case !secret && c.AuthJWTPublicKeyFile == "" && c.AuthJWKSFile == "":
		problems = append(problems, fmt.Sprintf("%s, %s or %s must be set: no key is configured, so no token could be verified",
			VarAuthJWTSecret, VarAuthJWTPublicKeyFile, VarAuthJWKSFile))
	case !hmac:
		problems = append(problems, fmt.Sprintf("%s or %s must be set: %s (%s) allows no HMAC algorithm, so %s cannot verify tokens",
			VarAuthJWTPublicKeyFile, VarAuthJWKSFile, VarAuthJWTAlgorithms, strings.Join(c.AuthJWTAlgorithms, ","), VarAuthJWTSecret))
	default:
		problems = append(problems, fmt.Sprintf("%s must be set: %s (%s) allows only HMAC algorithms, which never verify with a public key",
			VarAuthJWTSecret, VarAuthJWTAlgorithms, strings.Join(c.AuthJWTAlgorithms, ",")))
	}

	if secret && hmac && len(c.AuthJWTSecret) < minSecretLen {
		if strict {
			problems = append(problems, fmt.Sprintf("%s must be at least %d bytes %s", VarAuthJWTSecret, minSecretLen, where))
		} else {
			warnings = append(warnings, fmt.Sprintf("%s is shorter than %d bytes; staging and prod refuse it", VarAuthJWTSecret, minSecretLen))
		}
	}
	if secret && !hmac {
		warnings = append(warnings, fmt.Sprintf("%s is set but %s allows no HMAC algorithm; the secret is unused", VarAuthJWTSecret, VarAuthJWTAlgorithms))
	}
	return warnings, problems
}

// readable checks that path names a regular file this process can open.
func readable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", strconv.Quote(path), unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", strconv.Quote(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", strconv.Quote(path), unwrapPath(err))
	}
	return f.Close()
}

// unwrapPath drops the *PathError wrapper, whose text repeats the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// splitError turns an error (possibly errors.Join'ed) into lines.
func splitError(err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// authProblem makes sure a CheckAuth finding names a variable: when the
// text names none, it is prefixed with the key variable in use.
func (c *Config) authProblem(text string) string {
	if strings.Contains(text, varPrefix) {
		return text
	}
	name := VarAuthJWTSecret
	switch {
	case c.AuthJWTPublicKeyFile != "":
		name = VarAuthJWTPublicKeyFile
	case c.AuthJWKSFile != "":
		name = VarAuthJWKSFile
	}
	return name + ": " + text
}

// scrub removes secrets from text that came from injected checks (whose
// errors may quote what they were given): the HMAC secret and the Redis
// password become <redacted>. Only injected text is scrubbed; this
// package's own messages never contain a secret.
func (c *Config) scrub(text string) string {
	secrets := redisSecrets(c.RedisURL)
	if c.AuthJWTSecret != "" {
		secrets = append(secrets, c.AuthJWTSecret)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		text = strings.ReplaceAll(text, s, "<redacted>")
		if esc := url.QueryEscape(s); esc != s {
			text = strings.ReplaceAll(text, esc, "<redacted>")
		}
		if esc := url.PathEscape(s); esc != s {
			text = strings.ReplaceAll(text, esc, "<redacted>")
		}
	}
	return text
}
