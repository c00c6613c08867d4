package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// testNow is the fixed instant every test clock returns.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testSecret is a 32-byte HMAC secret.
const testSecret = "0123456789abcdef0123456789abcdef"

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// unix returns testNow shifted by d as a NumericDate number.
func unix(d time.Duration) float64 { return float64(testNow.Add(d).Unix()) }

// validClaims is a complete, acceptable claim set; tests change one thing.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":       "alice",
		"tenant_id": "acme",
		"role":      "user",
		"iat":       unix(-time.Minute),
		"exp":       unix(time.Hour),
	}
}

// hsVerifier returns an HS256 verifier on the fixed clock, adjusted by mod.
func hsVerifier(t testing.TB, mod func(*Options)) *Verifier {
	t.Helper()
	o := Options{Secret: testSecret, Leeway: 30 * time.Second, Clock: clockAt(testNow)}
	if mod != nil {
		mod(&o)
	}
	v, err := NewVerifier(o)
	require.NoError(t, err)
	return v
}

// signToken signs claims with method and key, adding extra header members.
func signToken(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// hsToken signs claims with HS256 and the test secret.
func hsToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return signToken(t, jwt.SigningMethodHS256, []byte(testSecret), claims, nil)
}

// b64 encodes a segment the JWT way.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rawHS256 builds a token from literal header and payload JSON, HMAC-SHA256
// signed with secret, so tests can send exactly the bytes they mean.
func rawHS256(header, payload string, secret []byte) string {
	input := b64(header) + "." + b64(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validPayload is validClaims as JSON.
func validPayload(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(validClaims())
	require.NoError(t, err)
	return string(b)
}

// testKeys are generated once per test binary: RSA generation is slow.
type testKeySet struct {
	rsa, rsaOther *rsa.PrivateKey
	p256, p384    *ecdsa.PrivateKey
	p521, p256Alt *ecdsa.PrivateKey
	ed, edOther   ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeySet
)

func testKeys(t testing.TB) *testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		keys.rsa = mustKey(rsa.GenerateKey(rand.Reader, 2048))
		keys.rsaOther = mustKey(rsa.GenerateKey(rand.Reader, 2048))
		keys.p256 = mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		keys.p256Alt = mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		keys.p384 = mustKey(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
		keys.p521 = mustKey(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))
		_, keys.ed = mustKeyPair(ed25519.GenerateKey(rand.Reader))
		_, keys.edOther = mustKeyPair(ed25519.GenerateKey(rand.Reader))
	})
	return &keys
}

// mustKey panics on a key generation failure: it happens once per binary,
// outside any one test, and means the platform's randomness is broken.
func mustKey[K any](k K, err error) K {
	if err != nil {
		panic(err)
	}
	return k
}

func mustKeyPair[P, K any](p P, k K, err error) (P, K) {
	if err != nil {
		panic(err)
	}
	return p, k
}

// writeFile writes data to a fresh file in t.TempDir().
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// pemOf encodes one DER block.
func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writePublicPEM writes pub as a PKIX "PUBLIC KEY" PEM file.
func writePublicPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return writeFile(t, "key.pem", pemOf("PUBLIC KEY", der))
}

// jwkOf renders a public key as a JWK map.
func jwkOf(t testing.TB, pub any, kid, alg string) map[string]any {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	m := map[string]any{}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"] = "RSA", enc(k.N.Bytes())
		e := []byte{byte(k.E >> 16), byte(k.E >> 8), byte(k.E)}
		for len(e) > 1 && e[0] == 0 {
			e = e[1:]
		}
		m["e"] = enc(e)
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		require.NoError(t, err)
		size := (len(b) - 1) / 2
		m["kty"], m["crv"] = "EC", k.Curve.Params().Name
		m["x"], m["y"] = enc(b[1:1+size]), enc(b[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc(k)
	default:
		t.Fatalf("jwkOf: unsupported %T", pub)
	}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

// jwksBytes renders a JWK set.
func jwksBytes(t testing.TB, ks ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": ks})
	require.NoError(t, err)
	return b
}

// failureReason asserts err is a *Failure and returns its reason.
func failureReason(t testing.TB, err error) string {
	t.Helper()
	require.Error(t, err)
	var f *Failure
	require.ErrorAs(t, err, &f)
	return f.Reason
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
