package config

import (
	"context"
	"strings"
	"testing"
	"time"
)

func FuzzNormalizeProfile(f *testing.F) {
	for _, s := range []string{"dev", "Production", " stage ", "", "qa", "prod\x00", "ｐｒｏｄ", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := NormalizeProfile(s)
		if err != nil {
			if !strings.Contains(err.Error(), acceptedProfiles) {
				t.Fatalf("error %q does not name the accepted profiles", err)
			}
			return
		}
		if p != ProfileDev && p != ProfileStaging && p != ProfileProd {
			t.Fatalf("NormalizeProfile(%q) = %q", s, p)
		}
		if again, err := NormalizeProfile(p); err != nil || again != p {
			t.Fatalf("NormalizeProfile is not idempotent on %q", p)
		}
	})
}

// FuzzLoad feeds one variable and a command line to Load, then Validate,
// Print and Preflight on success: none may panic, and none may ever write
// the HMAC secret.
func FuzzLoad(f *testing.F) {
	f.Add(uint8(1), "9100", "--log-level=debug")
	f.Add(uint8(0), "production", "")
	f.Add(uint8(36), "redis://:pw@h:1/0", "--storage-backend=redis --storage-mode=strict")
	f.Add(uint8(14), "-5s", "--enable-auth")
	f.Add(uint8(26), "none,HS256", "---x --nope serve")
	f.Add(uint8(7), "*", "--environment=prod")
	f.Fuzz(func(t *testing.T, index uint8, value, args string) {
		const secret = "fuzz-hmac-secret-marker-0123456789"
		s := settings[int(index)%len(settings)]
		env := map[string]string{s.name: value}
		if s.name != VarAuthJWTSecret {
			env[VarAuthJWTSecret] = secret
		}
		leaks := func(text string) bool {
			return strings.Contains(text, secret) && !strings.Contains(value, secret) && !strings.Contains(args, secret)
		}
		cfg, err := Load(envOf(env), strings.Fields(args))
		if err != nil {
			if cfg != nil {
				t.Fatal("a failed Load returned a Config")
			}
			if leaks(err.Error()) {
				t.Fatalf("error text shows the secret: %q", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load returned a Config that does not validate: %v", err)
		}
		var b strings.Builder
		if err := cfg.Print(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), secret) {
			t.Fatal("Print shows the secret")
		}
		deps := PreflightDeps{
			PingRedis: func(context.Context, string, time.Duration) error { return nil },
			CheckAuth: func(*Config) error { return nil },
		}
		warnings, err := Preflight(context.Background(), cfg, deps)
		if err != nil && leaks(err.Error()) {
			t.Fatalf("preflight shows the secret: %q", err)
		}
		if leaks(strings.Join(warnings, "\n")) {
			t.Fatal("a preflight warning shows the secret")
		}
	})
}
