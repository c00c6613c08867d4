package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeProfile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"dev is dev", "dev", ProfileDev},
		{"development is dev", "development", ProfileDev},
		{"staging is staging", "staging", ProfileStaging},
		{"stage is staging", "stage", ProfileStaging},
		{"prod is prod", "prod", ProfileProd},
		{"production is prod", "production", ProfileProd},
		{"case does not matter", "PRODUCTION", ProfileProd},
		{"surrounding space is trimmed", "  Stage\t\n", ProfileStaging},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeProfile(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNormalizeProfileRejects(t *testing.T) {
	for _, in := range []string{"", "   ", "qa", "prd", "dev-1", "test", "production\x00"} {
		t.Run("rejects "+quote(in), func(t *testing.T) {
			_, err := NormalizeProfile(in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), quote(in))
			assert.Contains(t, err.Error(), "dev, development, staging, stage, prod, production")
		})
	}
}

func TestStrictPreflight(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		force   bool
		want    bool
		because string
	}{
		{"dev is not strict", "dev", false, false, ""},
		{"dev with PREFLIGHT_STRICT is strict", "dev", true, true, "under ARQONBUS_PREFLIGHT_STRICT=true"},
		{"staging is strict", "staging", false, true, "in staging"},
		{"prod is strict", "prod", false, true, "in prod"},
		{"an alias left in a hand-built config is still strict", "production", false, true, "in prod"},
		{"an unrecognised profile fails safe", "qa", false, true, "in an unrecognised profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(ProfileDev)
			c.Environment = tt.env
			c.PreflightStrict = tt.force
			assert.Equal(t, tt.want, c.StrictPreflight())
			if tt.want {
				assert.Equal(t, tt.because, c.strictReason())
			}
		})
	}
}

func TestPrototypeLanesOpen(t *testing.T) {
	tests := []struct {
		name string
		env  string
		rsi  bool
		want bool
	}{
		{"dev opens the lanes", "dev", false, true},
		{"development (alias) opens the lanes", "development", false, true},
		{"staging closes them", "staging", false, false},
		{"stage (alias) closes them", "stage", false, false},
		{"prod closes them", "prod", false, false},
		{"production (alias) closes them", "production", false, false},
		{"PROD in capitals closes them", "PROD", false, false},
		{"an unrecognised profile closes them", "qa", false, false},
		{"staging opens them with ENABLE_PROTOTYPE_RSI", "staging", true, true},
		{"prod opens them with ENABLE_PROTOTYPE_RSI", "prod", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(ProfileDev)
			c.Environment = tt.env
			c.EnablePrototypeRSI = tt.rsi
			assert.Equal(t, tt.want, c.PrototypeLanesOpen())
		})
	}
}

func TestDefaultDependsOnProfile(t *testing.T) {
	tests := []struct {
		name        string
		profile     string
		env         string
		queryToken  bool
		needsTenant bool
	}{
		{"empty means dev", "", ProfileDev, true, false},
		{"dev accepts query tokens and no tenant", "dev", ProfileDev, true, false},
		{"staging accepts query tokens and needs a tenant", "staging", ProfileStaging, true, true},
		{"prod refuses query tokens and needs a tenant", "prod", ProfileProd, false, true},
		{"an alias is normalised", "production", ProfileProd, false, true},
		{"an unknown profile gets the safest defaults", "qa", "qa", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(tt.profile)
			assert.Equal(t, tt.env, c.Environment)
			assert.Equal(t, tt.queryToken, c.AuthAllowQueryToken)
			assert.Equal(t, tt.needsTenant, c.AuthRequireTenant)
		})
	}
}

// TestDefaultsAreTheContractsValues pins the defaults the behavioural
// contract states (frame limit, connection and subscription caps, rate
// limit, storage, history size, ...). It reads no document itself:
// TestReferenceDocumentsEveryVariable checks docs/configuration.md against
// Default, so the two together hold contract, code and reference in step.
func TestDefaultsAreTheContractsValues(t *testing.T) {
	c := Default(ProfileDev)
	assert.Equal(t, "127.0.0.1:9100", c.Addr())
	assert.Equal(t, 1<<20, c.MaxMessageSize)
	assert.Equal(t, 32, c.MaxJSONDepth)
	assert.Equal(t, 10000, c.MaxConnections)
	assert.Equal(t, 128, c.MaxSubscriptions)
	assert.Equal(t, 20, c.MaxViolations)
	assert.Equal(t, 1<<20, c.SendQueueBytes)
	assert.Equal(t, 1000, c.RateLimitPerSecond)
	assert.Equal(t, 2000, c.RateLimitBurst)
	assert.Equal(t, []string{"HS256"}, c.AuthJWTAlgorithms)
	assert.Equal(t, BackendMemory, c.StorageBackend)
	assert.Equal(t, ModeDegraded, c.StorageMode)
	assert.True(t, c.EnablePersistence)
	assert.Equal(t, 10000, c.MaxHistorySize)
	assert.Equal(t, "info", c.LogLevel)
	assert.Empty(t, c.LogFormat)
	assert.False(t, c.EnableAuth)
	assert.NotNil(t, c.Explicit)
	for _, p := range []string{"dev", "staging", "prod"} {
		d := Default(p)
		assert.NoError(t, d.Validate(), "defaults of %s must validate", p)
	}
}

func TestEffectiveLogFormat(t *testing.T) {
	tests := []struct {
		name, env, format, want string
	}{
		{"empty is text in dev", "dev", "", "text"},
		{"empty is json in staging", "staging", "", "json"},
		{"empty is json in prod", "prod", "", "json"},
		{"an explicit format wins", "prod", "text", "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default(tt.env)
			c.LogFormat = tt.format
			assert.Equal(t, tt.want, c.EffectiveLogFormat())
		})
	}
}
