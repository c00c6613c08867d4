package auth

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
)

func TestNewVerifierRefusesUnusableConfigurations(t *testing.T) {
	k := testKeys(t)
	rsaPEM := writePublicPEM(t, &k.rsa.PublicKey)
	ecPEM := writePublicPEM(t, &k.p256.PublicKey)
	jwks := writeFile(t, "jwks.json", jwksBytes(t, jwkOf(t, &k.rsa.PublicKey, "a", "")))
	tests := []struct {
		name  string
		opts  Options
		names []string // every one must appear in the error
	}{
		{"no key at all is refused", Options{},
			[]string{config.VarAuthJWTSecret, config.VarAuthJWTPublicKeyFile, config.VarAuthJWKSFile}},
		{"a secret beside a public key does not make HS256 acceptable", Options{Secret: testSecret, PublicKeyFile: rsaPEM},
			[]string{config.VarAuthJWTAlgorithms, "HS256", "algorithm confusion"}},
		{"a secret beside a public key does not allow a mixed list", Options{Secret: testSecret, PublicKeyFile: rsaPEM, Algorithms: []string{"RS256", "HS256"}},
			[]string{config.VarAuthJWTAlgorithms, "HS256", "algorithm confusion"}},
		{"a public key and a key set together are refused", Options{PublicKeyFile: rsaPEM, JWKSFile: jwks, Algorithms: []string{"RS256"}},
			[]string{"only one", config.VarAuthJWTPublicKeyFile, config.VarAuthJWKSFile}},
		{"an algorithm in the wrong case is refused with the right spelling", Options{Secret: testSecret, Algorithms: []string{"hs256"}},
			[]string{config.VarAuthJWTAlgorithms, "did you mean HS256"}},
		{"an algorithm with a stray space is refused", Options{Secret: testSecret, Algorithms: []string{"HS256 "}},
			[]string{config.VarAuthJWTAlgorithms, "did you mean HS256"}},
		{"none in the allow-list is refused", Options{Secret: testSecret, Algorithms: []string{"HS256", "none"}},
			[]string{config.VarAuthJWTAlgorithms, "never accepted"}},
		{"None in the allow-list is refused", Options{Secret: testSecret, Algorithms: []string{"None"}},
			[]string{config.VarAuthJWTAlgorithms, "never accepted"}},
		{"an unknown algorithm is refused", Options{Secret: testSecret, Algorithms: []string{"HS1"}},
			[]string{config.VarAuthJWTAlgorithms, "not a supported algorithm"}},
		{"an empty algorithm name is refused", Options{Secret: testSecret, Algorithms: []string{""}},
			[]string{config.VarAuthJWTAlgorithms}},
		{"an asymmetric algorithm with only a secret is refused", Options{Secret: testSecret, Algorithms: []string{"HS256", "RS256"}},
			[]string{config.VarAuthJWTAlgorithms, "RS256 needs a public key", config.VarAuthJWTSecret}},
		{"the default HS256 with a public key is refused as algorithm confusion", Options{PublicKeyFile: rsaPEM},
			[]string{config.VarAuthJWTAlgorithms, "HS256", "algorithm confusion", "RS256"}},
		{"an HMAC algorithm beside RS256 with a public key is refused", Options{PublicKeyFile: rsaPEM, Algorithms: []string{"RS256", "HS512"}},
			[]string{config.VarAuthJWTAlgorithms, "HS512", "algorithm confusion"}},
		{"an EC algorithm with an RSA key is refused", Options{PublicKeyFile: rsaPEM, Algorithms: []string{"RS256", "ES256"}},
			[]string{config.VarAuthJWTAlgorithms, "ES256 does not fit the RSA key"}},
		{"ES384 with a P-256 key is refused", Options{PublicKeyFile: ecPEM, Algorithms: []string{"ES384"}},
			[]string{config.VarAuthJWTAlgorithms, "ES384 does not fit the EC P-256 key", "ES256"}},
		{"an HMAC algorithm with a key set is refused as algorithm confusion", Options{JWKSFile: jwks, Algorithms: []string{"RS256", "HS256"}},
			[]string{config.VarAuthJWTAlgorithms, "HS256", "algorithm confusion"}},
		{"a missing key file is refused", Options{PublicKeyFile: filepath.Join(t.TempDir(), "absent.pem"), Algorithms: []string{"RS256"}},
			[]string{config.VarAuthJWTPublicKeyFile, "absent.pem"}},
		{"a missing key set file is refused", Options{JWKSFile: filepath.Join(t.TempDir(), "absent.json"), Algorithms: []string{"RS256"}},
			[]string{config.VarAuthJWKSFile, "absent.json"}},
		{"every problem is reported at once", Options{Secret: testSecret, Algorithms: []string{"none", "RS256"}, Leeway: time.Hour},
			[]string{config.VarAuthLeeway, "none", "RS256 needs a public key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.opts)
			require.Error(t, err)
			assert.Nil(t, v)
			for _, n := range tt.names {
				assert.Contains(t, err.Error(), n)
			}
			assert.NotContains(t, err.Error(), testSecret, "a configuration error never prints the secret")
		})
	}
}

func TestASecretBesideAPublicKeyIsNeverUsed(t *testing.T) {
	k := testKeys(t)
	v, err := NewVerifier(Options{
		Secret: testSecret, PublicKeyFile: writePublicPEM(t, &k.rsa.PublicKey),
		Algorithms: []string{"RS256"}, Clock: clockAt(testNow),
	})
	require.NoError(t, err, "an unused secret is a warning for the preflight, not a refusal")

	_, err = v.Verify(signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), nil))
	require.NoError(t, err)
	_, err = v.Verify(hsToken(t, validClaims()))
	assert.Equal(t, ReasonBadAlgorithm, failureReason(t, err), "an HS256 token signed with that secret is refused")
}

func TestNewVerifierDefaultsToHS256(t *testing.T) {
	v, err := NewVerifier(Options{Secret: testSecret, Clock: clockAt(testNow)})
	require.NoError(t, err)
	assert.Equal(t, []string{"HS256"}, v.Algorithms())

	_, err = v.Verify(hsToken(t, validClaims()))
	require.NoError(t, err)
	_, err = v.Verify(signToken(t, jwt.SigningMethodHS384, []byte(testSecret), validClaims(), nil))
	assert.Equal(t, ReasonBadAlgorithm, failureReason(t, err))
}

// TestPublicKeyFilesVerifyTheirTokens covers each supported key type, as a
// PKIX public key and in the other accepted PEM forms.
func TestPublicKeyFilesVerifyTheirTokens(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name   string
		file   func(t *testing.T) string
		alg    string
		method jwt.SigningMethod
		signer any
		wrong  any // a key of the same type that must not verify
	}{
		{"an RSA public key verifies RS256", func(t *testing.T) string { return writePublicPEM(t, &k.rsa.PublicKey) },
			"RS256", jwt.SigningMethodRS256, k.rsa, k.rsaOther},
		{"an RSA public key verifies PS384", func(t *testing.T) string { return writePublicPEM(t, &k.rsa.PublicKey) },
			"PS384", jwt.SigningMethodPS384, k.rsa, k.rsaOther},
		{"a PKCS #1 RSA public key verifies RS512", func(t *testing.T) string {
			return writeFile(t, "rsa.pem", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)))
		}, "RS512", jwt.SigningMethodRS512, k.rsa, k.rsaOther},
		{"an ECDSA P-256 key verifies ES256", func(t *testing.T) string { return writePublicPEM(t, &k.p256.PublicKey) },
			"ES256", jwt.SigningMethodES256, k.p256, k.p256Alt},
		{"an ECDSA P-384 key verifies ES384", func(t *testing.T) string { return writePublicPEM(t, &k.p384.PublicKey) },
			"ES384", jwt.SigningMethodES384, k.p384, nil},
		{"an ECDSA P-521 key verifies ES512", func(t *testing.T) string { return writePublicPEM(t, &k.p521.PublicKey) },
			"ES512", jwt.SigningMethodES512, k.p521, nil},
		{"an Ed25519 key verifies EdDSA", func(t *testing.T) string { return writePublicPEM(t, k.ed.Public()) },
			"EdDSA", jwt.SigningMethodEdDSA, k.ed, k.edOther},
		{"a certificate's public key verifies ES256", func(t *testing.T) string {
			return writeFile(t, "cert.pem", pemOf("CERTIFICATE", selfSigned(t, k.p256)))
		}, "ES256", jwt.SigningMethodES256, k.p256, k.p256Alt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Options{PublicKeyFile: tt.file(t), Algorithms: []string{tt.alg}, Clock: clockAt(testNow)})
			require.NoError(t, err)

			id, err := v.Verify(signToken(t, tt.method, tt.signer, validClaims(), nil))
			require.NoError(t, err)
			assert.Equal(t, "alice", id.Subject)

			if tt.wrong != nil {
				_, err = v.Verify(signToken(t, tt.method, tt.wrong, validClaims(), nil))
				assert.Equal(t, ReasonBadSignature, failureReason(t, err), "a signature by another key is refused")
			}
		})
	}
}

// selfSigned returns the DER of a self-signed certificate for key. Its
// dates are long past: the verifier uses the key, not the certificate.
func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	return der
}

func TestPublicKeyFilesThatAreNotAPublicKeyAreRefused(t *testing.T) {
	k := testKeys(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.p256)
	require.NoError(t, err)
	ecPriv, err := x509.MarshalECPrivateKey(k.p256)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&k.p256.PublicKey)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	x25519DER, err := x509.MarshalPKIXPublicKey(x25519.PublicKey())
	require.NoError(t, err)

	tests := []struct {
		name string
		data []byte
		alg  string
		want string
	}{
		{"a PKCS #8 private key is refused", pemOf("PRIVATE KEY", pkcs8), "ES256", "private key"},
		{"an EC private key is refused", pemOf("EC PRIVATE KEY", ecPriv), "ES256", "private key"},
		{"an RSA private key is refused", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), "RS256", "private key"},
		{"a file without PEM is refused", []byte("just some text"), "ES256", "no PEM block"},
		{"two public keys in one file are refused", append(pemOf("PUBLIC KEY", pubDER), pemOf("PUBLIC KEY", pubDER)...), "ES256", "more than one"},
		{"an unknown block type is refused", pemOf("DH PARAMETERS", []byte{1, 2, 3}), "ES256", "unsupported PEM block"},
		{"a corrupt public key is refused", pemOf("PUBLIC KEY", []byte{0x30, 0x03, 1, 2, 3}), "ES256", "parse PUBLIC KEY"},
		{"a 1024-bit RSA key is refused", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&small.PublicKey)), "RS256", "too short"},
		{"a P-224 key is refused", mustPKIX(t, &p224.PublicKey), "ES256", "not supported"},
		{"an X25519 key is refused", pemOf("PUBLIC KEY", x25519DER), "EdDSA", "unsupported public key type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(Options{PublicKeyFile: writeFile(t, "key.pem", tt.data), Algorithms: []string{tt.alg}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), config.VarAuthJWTPublicKeyFile)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func mustPKIX(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return pemOf("PUBLIC KEY", der)
}

func TestAnOversizedKeyFileIsRefused(t *testing.T) {
	big := make([]byte, maxKeyFileBytes+1)
	_, err := NewVerifier(Options{PublicKeyFile: writeFile(t, "big.pem", big), Algorithms: []string{"RS256"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than")
}
