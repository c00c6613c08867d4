package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz keys and clock are fixed so the committed seed corpus stays
// valid: a seed that verifies today verifies on every run.
var (
	fuzzSecret = []byte("fuzz-secret-0123456789abcdefghij")
	fuzzEd     = ed25519.NewKeyFromSeed([]byte("fuzz-ed25519-seed-32-bytes-long!"))
	fuzzNow    = time.Unix(1_900_000_000, 0).UTC()
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzVerify from fuzzSeeds")

// fuzzVerifiers returns an HS256 verifier and an EdDSA verifier on the
// fuzz keys, leeway 30 s, issuer and audience unset.
func fuzzVerifiers(t testing.TB, dir string) (hs, ed *Verifier) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(fuzzEd.Public())
	require.NoError(t, err)
	path := filepath.Join(dir, "ed.pem")
	require.NoError(t, os.WriteFile(path, pemOf("PUBLIC KEY", der), 0o600))
	hs, err = NewVerifier(Options{Secret: string(fuzzSecret), Leeway: 30 * time.Second, Clock: clockAt(fuzzNow)})
	require.NoError(t, err)
	ed, err = NewVerifier(Options{PublicKeyFile: path, Algorithms: []string{"EdDSA"}, Leeway: 30 * time.Second, Clock: clockAt(fuzzNow)})
	require.NoError(t, err)
	return hs, ed
}

// fuzzSeeds are deterministic tokens around the fuzz keys: valid ones to
// mutate from, and a few refused shapes.
func fuzzSeeds(t testing.TB) map[string]string {
	t.Helper()
	now := float64(fuzzNow.Unix())
	claims := func(extra map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "fuzz", "tenant_id": "t1", "role": "admin", "iat": now - 60, "exp": now + 3600}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return signToken(t, jwt.SigningMethodHS256, fuzzSecret, c, nil) }
	return map[string]string{
		"valid-hs256":          hs(claims(nil)),
		"valid-hs256-no-role":  hs(claims(map[string]any{"role": nil, "aud": []string{"a", "b"}, "nbf": now - 1})),
		"valid-eddsa":          signToken(t, jwt.SigningMethodEdDSA, fuzzEd, claims(nil), map[string]any{"kid": "k1"}),
		"expired-hs256":        hs(claims(map[string]any{"exp": now - 3600})),
		"bad-role-hs256":       hs(claims(map[string]any{"role": "root"})),
		"alg-none":             b64(`{"alg":"none"}`) + "." + b64(`{"sub":"fuzz","exp":1900003600}`) + ".",
		"hs384-not-allowed":    signToken(t, jwt.SigningMethodHS384, fuzzSecret, claims(nil), nil),
		"wrong-key-hs256":      signToken(t, jwt.SigningMethodHS256, []byte("not-the-fuzz-secret-at-all-32byt"), claims(nil), nil),
		"four-segments":        hs(claims(nil)) + ".e30",
		"header-with-crit-kid": rawHS256(`{"alg":"HS256","crit":["x"],"kid":7}`, `{"sub":"fuzz"}`, fuzzSecret),
	}
}

// FuzzVerify checks that Verify never panics, labels every refusal with a
// known reason without echoing the token, and accepts only tokens whose
// signature independently verifies under the key that signed the seeds.
func FuzzVerify(f *testing.F) {
	hs, ed := fuzzVerifiers(f, f.TempDir())
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	known := map[string]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	edPub := fuzzEd.Public().(ed25519.PublicKey)

	f.Fuzz(func(t *testing.T, token string) {
		for _, v := range []*Verifier{hs, ed} {
			id, err := v.Verify(token)
			if err != nil {
				reason := ReasonOf(err)
				if !known[reason] || reason == ReasonInvalid || reason == ReasonUnconfigured {
					t.Fatalf("unexpected reason %q: %v", reason, err)
				}
				if len(token) >= 16 && strings.Contains(err.Error(), token) {
					t.Fatalf("error carries the token: %v", err)
				}
				continue
			}
			h, p, s := splitToken3(token)
			sig, decErr := base64.RawURLEncoding.Strict().DecodeString(s)
			if decErr != nil {
				t.Fatalf("accepted a token whose signature is not strict base64url")
			}
			input := []byte(h + "." + p)
			if v == hs {
				m := hmac.New(sha256.New, fuzzSecret)
				m.Write(input)
				if !hmac.Equal(m.Sum(nil), sig) {
					t.Fatalf("HS256 verifier accepted a token the secret did not sign")
				}
			} else if !ed25519.Verify(edPub, input, sig) {
				t.Fatalf("EdDSA verifier accepted a token the key did not sign")
			}
			if id.Subject == "" || id.ExpiresAt.IsZero() || id.Role < RoleGuest || id.Role > RoleAdmin {
				t.Fatalf("accepted token mapped to an incomplete identity %+v", id)
			}
		}
	})
}

// TestFuzzSeedCorpusIsCurrent keeps testdata/fuzz/FuzzVerify equal to
// fuzzSeeds, and checks that the valid seeds verify, so the fuzzer starts
// from tokens that reach the claim checks. Run with -update-fuzz-corpus to
// rewrite the files.
func TestFuzzSeedCorpusIsCurrent(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	seeds := fuzzSeeds(t)
	names := make([]string, 0, len(seeds))
	for n := range seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		want := fmt.Sprintf("go test fuzz v1\nstring(%s)\n", strconv.Quote(seeds[n]))
		path := filepath.Join(dir, n)
		if *updateFuzzCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "missing seed file; run go test -run TestFuzzSeedCorpusIsCurrent -update-fuzz-corpus")
		assert.Equal(t, want, string(got), "seed %s is stale", n)
	}

	hs, ed := fuzzVerifiers(t, t.TempDir())
	_, err := hs.Verify(seeds["valid-hs256"])
	require.NoError(t, err)
	_, err = hs.Verify(seeds["valid-hs256-no-role"])
	require.NoError(t, err)
	id, err := ed.Verify(seeds["valid-eddsa"])
	require.NoError(t, err)
	assert.Equal(t, RoleAdmin, id.Role)

	var claims map[string]any
	_, p, _ := splitToken3(seeds["valid-hs256"])
	raw, err := base64.RawURLEncoding.DecodeString(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &claims))
	assert.Equal(t, "fuzz", claims["sub"])
}
