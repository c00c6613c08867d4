package config

import (
	"fmt"
	"strings"
)

// profileAliases maps every accepted spelling to its profile. The aliases
// are resolved in one place so that no check anywhere can match only one
// spelling (the Python server closed prototype lanes only for the literal
// "production").
var profileAliases = map[string]string{
	"dev":         ProfileDev,
	"development": ProfileDev,
	"staging":     ProfileStaging,
	"stage":       ProfileStaging,
	"prod":        ProfileProd,
	"production":  ProfileProd,
}

// acceptedProfiles is the accepted set, in the order error messages name it.
const acceptedProfiles = "dev, development, staging, stage, prod, production"

// NormalizeProfile trims and lower-cases s and maps it to dev, staging or
// prod. Anything else, including the empty string, is an error naming the
// value and the accepted set: a mistyped profile must not silently fall
// back to dev, whose defaults are the least safe.
func NormalizeProfile(s string) (string, error) {
	p, ok := profileAliases[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return "", fmt.Errorf("%s is not a profile; accepted: %s", quote(s), acceptedProfiles)
	}
	return p, nil
}

// profile returns the normalised profile, or "" when Environment holds no
// valid profile (possible only for a Config built in code).
func (c *Config) profile() string {
	p, err := NormalizeProfile(c.Environment)
	if err != nil {
		return ""
	}
	return p
}

// StrictPreflight reports whether Preflight runs the strict checks: in
// staging and prod, or in dev with ARQONBUS_PREFLIGHT_STRICT=true. An
// unrecognised profile counts as strict, so a broken Config fails safe.
func (c *Config) StrictPreflight() bool {
	return c.profile() != ProfileDev || c.PreflightStrict
}

// PrototypeLanesOpen reports whether the experimental (prototype) lanes
// accept traffic. The rule: open in dev; closed in staging and prod unless
// ARQONBUS_ENABLE_PROTOTYPE_RSI=true, in which case Preflight emits a
// warning line. The profile is normalised first, so every alias of staging
// and prod ("stage", "production", "PROD", ...) closes the lanes, and a
// profile that is not recognised closes them too.
func (c *Config) PrototypeLanesOpen() bool {
	if c.profile() == ProfileDev {
		return true
	}
	return c.EnablePrototypeRSI
}

// strictReason names why the strict preflight applies, for messages such
// as "ARQONBUS_ENABLE_AUTH must be true in prod".
func (c *Config) strictReason() string {
	switch p := c.profile(); p {
	case ProfileStaging, ProfileProd:
		return "in " + p
	case ProfileDev:
		return "under ARQONBUS_PREFLIGHT_STRICT=true"
	default:
		return "in an unrecognised profile"
	}
}
