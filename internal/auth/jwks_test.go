package auth

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
)

// jwksVerifier builds a verifier on a JWK set file holding ks.
func jwksVerifier(t *testing.T, algs []string, ks ...map[string]any) *Verifier {
	t.Helper()
	v, err := NewVerifier(Options{
		JWKSFile:   writeFile(t, "jwks.json", jwksBytes(t, ks...)),
		Algorithms: algs,
		Clock:      clockAt(testNow),
	})
	require.NoError(t, err)
	return v
}

func kid(k string) map[string]any { return map[string]any{"kid": k} }

func TestJWKSChoosesTheKeyByKid(t *testing.T) {
	k := testKeys(t)
	v := jwksVerifier(t, []string{"RS256", "ES256"},
		jwkOf(t, &k.rsa.PublicKey, "rsa-1", ""),
		jwkOf(t, &k.p256.PublicKey, "ec-1", "ES256"),
	)
	tests := []struct {
		name   string
		method jwt.SigningMethod
		signer any
		hdr    map[string]any
		want   string
	}{
		{"an RS256 token naming the RSA key is accepted", jwt.SigningMethodRS256, k.rsa, kid("rsa-1"), ""},
		{"an ES256 token naming the EC key is accepted", jwt.SigningMethodES256, k.p256, kid("ec-1"), ""},
		{"a token naming an unknown kid is refused", jwt.SigningMethodRS256, k.rsa, kid("rsa-2"), ReasonUnknownKid},
		{"a token naming an empty kid is refused", jwt.SigningMethodRS256, k.rsa, kid(""), ReasonUnknownKid},
		{"a kid that looks like a path is just an unknown kid", jwt.SigningMethodRS256, k.rsa, kid("../../etc/passwd"), ReasonUnknownKid},
		{"a token without kid is refused when the set holds two keys", jwt.SigningMethodRS256, k.rsa, nil, ReasonMissingKid},
		{"an ES256 token naming the RSA key is refused", jwt.SigningMethodES256, k.p256, kid("rsa-1"), ReasonBadAlgorithm},
		{"an RS256 token naming the EC key is refused", jwt.SigningMethodRS256, k.rsa, kid("ec-1"), ReasonBadAlgorithm},
		{"a token signed by another key under a known kid is refused", jwt.SigningMethodRS256, k.rsaOther, kid("rsa-1"), ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(signToken(t, tt.method, tt.signer, validClaims(), tt.hdr))
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tt.want, failureReason(t, err))
		})
	}
}

func TestJWKSAlgorithmOnAKeyMustMatchTheToken(t *testing.T) {
	k := testKeys(t)
	v := jwksVerifier(t, []string{"RS256", "PS256"},
		jwkOf(t, &k.rsa.PublicKey, "pinned", "RS256"),
		jwkOf(t, &k.rsaOther.PublicKey, "free", ""),
	)
	_, err := v.Verify(signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), kid("pinned")))
	require.NoError(t, err, "RS256 on an RS256 key is accepted")

	_, err = v.Verify(signToken(t, jwt.SigningMethodPS256, k.rsa, validClaims(), kid("pinned")))
	assert.Equal(t, ReasonBadAlgorithm, failureReason(t, err), "PS256 on a key pinned to RS256 is refused")

	_, err = v.Verify(signToken(t, jwt.SigningMethodPS256, k.rsaOther, validClaims(), kid("free")))
	require.NoError(t, err, "a key without alg serves every algorithm of its family")
}

func TestJWKSEachKeyTypeVerifiesItsTokens(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name   string
		key    map[string]any
		alg    string
		method jwt.SigningMethod
		signer any
	}{
		{"an RSA JWK verifies RS256", jwkOf(t, &k.rsa.PublicKey, "k", ""), "RS256", jwt.SigningMethodRS256, k.rsa},
		{"an EC P-256 JWK verifies ES256", jwkOf(t, &k.p256.PublicKey, "k", ""), "ES256", jwt.SigningMethodES256, k.p256},
		{"an EC P-384 JWK verifies ES384", jwkOf(t, &k.p384.PublicKey, "k", ""), "ES384", jwt.SigningMethodES384, k.p384},
		{"an EC P-521 JWK verifies ES512", jwkOf(t, &k.p521.PublicKey, "k", ""), "ES512", jwt.SigningMethodES512, k.p521},
		{"an OKP Ed25519 JWK verifies EdDSA", jwkOf(t, k.ed.Public(), "k", "EdDSA"), "EdDSA", jwt.SigningMethodEdDSA, k.ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := jwksVerifier(t, []string{tt.alg}, tt.key)
			_, err := v.Verify(signToken(t, tt.method, tt.signer, validClaims(), kid("k")))
			require.NoError(t, err)
			_, err = v.Verify(signToken(t, tt.method, tt.signer, validClaims(), nil))
			require.NoError(t, err, "a single-key set also serves tokens without kid")
		})
	}
}

// TestJWKSKeyRotation walks a rotation: publish old, publish old+new, then
// drop old. The verifier loads keys once, so each step builds a new one, as
// a restart does.
func TestJWKSKeyRotation(t *testing.T) {
	k := testKeys(t)
	path := writeFile(t, "jwks.json", jwksBytes(t, jwkOf(t, &k.rsa.PublicKey, "2029-old", "RS256")))
	load := func() *Verifier {
		v, err := NewVerifier(Options{JWKSFile: path, Algorithms: []string{"RS256"}, Clock: clockAt(testNow)})
		require.NoError(t, err)
		return v
	}
	oldTok := signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), kid("2029-old"))
	newTok := signToken(t, jwt.SigningMethodRS256, k.rsaOther, validClaims(), kid("2030-new"))

	before := load()
	_, err := before.Verify(oldTok)
	require.NoError(t, err, "the old key verifies before rotation")
	_, err = before.Verify(newTok)
	assert.Equal(t, ReasonUnknownKid, failureReason(t, err), "the new key is unknown before it is published")

	require.NoError(t, os.WriteFile(path, jwksBytes(t,
		jwkOf(t, &k.rsa.PublicKey, "2029-old", "RS256"),
		jwkOf(t, &k.rsaOther.PublicKey, "2030-new", "RS256"),
	), 0o600))
	during := load()
	_, err = during.Verify(oldTok)
	require.NoError(t, err, "the old kid still verifies while both are published")
	_, err = during.Verify(newTok)
	require.NoError(t, err, "the new kid verifies once published")

	require.NoError(t, os.WriteFile(path, jwksBytes(t, jwkOf(t, &k.rsaOther.PublicKey, "2030-new", "RS256")), 0o600))
	after := load()
	_, err = after.Verify(oldTok)
	assert.Equal(t, ReasonUnknownKid, failureReason(t, err), "the old kid is refused once removed")
	_, err = after.Verify(newTok)
	require.NoError(t, err)

	_, err = during.Verify(oldTok)
	require.NoError(t, err, "a verifier already built keeps the keys it loaded")
}

func TestJWKSSingleKeyWithoutKid(t *testing.T) {
	k := testKeys(t)
	v := jwksVerifier(t, []string{"ES256"}, jwkOf(t, &k.p256.PublicKey, "", ""))
	_, err := v.Verify(signToken(t, jwt.SigningMethodES256, k.p256, validClaims(), nil))
	require.NoError(t, err, "a token without kid uses the only key")
	_, err = v.Verify(signToken(t, jwt.SigningMethodES256, k.p256, validClaims(), kid("k1")))
	assert.Equal(t, ReasonUnknownKid, failureReason(t, err), "a kid cannot match a key that has none")
}

func TestJWKSSkipsKeysNotMeantForSignatures(t *testing.T) {
	k := testKeys(t)
	enc := jwkOf(t, &k.rsaOther.PublicKey, "enc", "")
	enc["use"] = "enc"
	wrap := jwkOf(t, &k.p256Alt.PublicKey, "wrap", "")
	wrap["key_ops"] = []string{"wrapKey"}
	sig := jwkOf(t, &k.rsa.PublicKey, "sig", "")
	sig["use"] = "sig"
	sig["key_ops"] = []string{"verify"}
	v := jwksVerifier(t, []string{"RS256", "ES256"}, enc, wrap, sig, jwkOf(t, &k.p256.PublicKey, "ec", ""))

	_, err := v.Verify(signToken(t, jwt.SigningMethodRS256, k.rsaOther, validClaims(), kid("enc")))
	assert.Equal(t, ReasonUnknownKid, failureReason(t, err), "an encryption key never verifies")
	_, err = v.Verify(signToken(t, jwt.SigningMethodES256, k.p256Alt, validClaims(), kid("wrap")))
	assert.Equal(t, ReasonUnknownKid, failureReason(t, err), "a key-wrapping key never verifies")
	_, err = v.Verify(signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), kid("sig")))
	require.NoError(t, err)
}

func TestJWKSKeysNoAllowedAlgorithmCanUseAreIgnored(t *testing.T) {
	k := testKeys(t)
	v := jwksVerifier(t, []string{"RS256"},
		jwkOf(t, &k.rsa.PublicKey, "", ""),
		jwkOf(t, k.ed.Public(), "ed", ""),
	)
	_, err := v.Verify(signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), nil))
	require.NoError(t, err, "the Ed25519 key is unusable with RS256 only, so the RSA key is the only key")
}

func TestJWKSFilesThatCannotBeTrustedAreRefused(t *testing.T) {
	k := testKeys(t)
	withMember := func(m map[string]any, name string, val any) map[string]any {
		m[name] = val
		return m
	}
	ec := func() map[string]any { return jwkOf(t, &k.p256.PublicKey, "ec", "") }
	rsaKey := func() map[string]any { return jwkOf(t, &k.rsa.PublicKey, "rsa", "") }
	offCurve := ec()
	offCurve["y"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	smallRSA := rsaKey()
	smallRSA["n"] = base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes()[:64])

	tests := []struct {
		name string
		data []byte
		algs []string
		want string
	}{
		{"a file that is not JSON is refused", []byte("-----BEGIN PUBLIC KEY-----"), []string{"ES256"}, "not a JWK set"},
		{"an empty set is refused", []byte(`{"keys":[]}`), []string{"ES256"}, "no keys"},
		{"a bare key without the keys array is refused", []byte(`{"kty":"EC"}`), []string{"ES256"}, "no keys"},
		{"a private EC key is refused", jwksBytes(t, withMember(ec(), "d", "AAAA")), []string{"ES256"}, "private key material"},
		{"a private RSA key is refused", jwksBytes(t, withMember(rsaKey(), "p", "AAAA")), []string{"RS256"}, "private key material"},
		{"a symmetric key is refused", jwksBytes(t, map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}), []string{"RS256"}, config.VarAuthJWTSecret},
		{"an unknown key type is refused", jwksBytes(t, map[string]any{"kty": "DSA", "kid": "d"}), []string{"RS256"}, "not supported"},
		{"a key without kty is refused", jwksBytes(t, map[string]any{"kid": "d"}), []string{"RS256"}, "no kty"},
		{"a secp256k1 key is refused", jwksBytes(t, withMember(ec(), "crv", "secp256k1")), []string{"ES256"}, "not supported"},
		{"an X25519 key is refused", jwksBytes(t, map[string]any{"kty": "OKP", "crv": "X25519", "x": "AAAA"}), []string{"EdDSA"}, "not supported"},
		{"a point off the curve is refused", jwksBytes(t, offCurve), []string{"ES256"}, "point"},
		{"coordinates of the wrong size are refused", jwksBytes(t, withMember(ec(), "x", "AAAA")), []string{"ES256"}, "32 bytes"},
		{"padded base64 is refused", jwksBytes(t, withMember(ec(), "x", ec()["x"].(string)+"=")), []string{"ES256"}, "base64url"},
		{"a short RSA modulus is refused", jwksBytes(t, smallRSA), []string{"RS256"}, "too short"},
		{"an even RSA exponent is refused", jwksBytes(t, withMember(rsaKey(), "e", "Ag")), []string{"RS256"}, "exponent"},
		{"a huge RSA exponent is refused", jwksBytes(t, withMember(rsaKey(), "e", "AQAAAAAB")), []string{"RS256"}, "exponent"},
		{"a key whose alg does not fit its type is refused", jwksBytes(t, jwkOf(t, &k.rsa.PublicKey, "r", "ES256")), []string{"RS256"}, "does not fit"},
		{"a key with alg none is refused", jwksBytes(t, jwkOf(t, &k.rsa.PublicKey, "r", "none")), []string{"RS256"}, "not a supported"},
		{"two keys with one kid are refused", jwksBytes(t, jwkOf(t, &k.rsa.PublicKey, "same", ""), jwkOf(t, &k.rsaOther.PublicKey, "same", "")), []string{"RS256"}, "more than one key"},
		{"two keys where one lacks a kid are refused", jwksBytes(t, jwkOf(t, &k.rsa.PublicKey, "a", ""), jwkOf(t, &k.rsaOther.PublicKey, "", "")), []string{"RS256"}, "every key needs a kid"},
		{"an allowed algorithm that fits no key is refused", jwksBytes(t, rsaKey()), []string{"RS256", "ES256"}, "ES256 fits no signing key"},
		{"a set with only encryption keys is refused", jwksBytes(t, withMember(rsaKey(), "use", "enc")), []string{"RS256"}, "fits no signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(Options{JWKSFile: writeFile(t, "jwks.json", tt.data), Algorithms: tt.algs})
			require.Error(t, err)
			assert.Contains(t, err.Error(), config.VarAuthJWKSFile)
			assert.Contains(t, err.Error(), tt.want)
			assert.False(t, strings.Contains(err.Error(), "c2VjcmV0"), "key material never reaches the message")
		})
	}
}
