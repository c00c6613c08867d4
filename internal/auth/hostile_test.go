package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawSigned builds a token from literal header and payload JSON signed by
// method with key, so a test controls every byte of the header.
func rawSigned(t testing.TB, method jwt.SigningMethod, key any, header, payload string) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	sig, err := method.Sign(input, key)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hmacWith signs an arbitrary header and payload with HMAC-SHA256 under an
// arbitrary secret: the tool of algorithm-confusion attacks.
func hmacWith(secret []byte, header, payload string) string {
	return rawHS256(header, payload, secret)
}

// setTrailingBits returns seg with the unused low bits of its last
// character set, the same bytes under a lenient decoder but a different
// string. ok is false when seg has no unused bits.
func setTrailingBits(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 < 2 {
		return seg, false
	}
	idx := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[idx|1]), true
}

// TestHostileTokensAreRefused throws forged, confused, malformed and
// oversized tokens at verifiers of every key kind. It tries 73 distinct
// hostile tokens; the last assertion keeps that count honest.
func TestHostileTokensAreRefused(t *testing.T) {
	k := testKeys(t)
	secret := []byte(testSecret)
	payload := validPayload(t)
	valid := hsToken(t, validClaims())
	vh, vp, vs := splitToken3(valid)
	adminClaims := validClaims()
	adminClaims["role"] = "admin"
	_, adminPayload, _ := splitToken3(hsToken(t, adminClaims))

	rsaPEMPath := writePublicPEM(t, &k.rsa.PublicKey)
	rsaPEMBytes := readFile(t, rsaPEMPath)
	rsaDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	require.NoError(t, err)
	jwksPath := writeFile(t, "jwks.json", jwksBytes(t,
		jwkOf(t, &k.rsa.PublicKey, "rsa-1", ""), jwkOf(t, &k.p256.PublicKey, "ec-1", "")))

	hs := hsVerifier(t, nil)
	rsaV := mustVerifier(t, Options{PublicKeyFile: rsaPEMPath, Algorithms: []string{"RS256"}})
	ecV := mustVerifier(t, Options{PublicKeyFile: writePublicPEM(t, &k.p256.PublicKey), Algorithms: []string{"ES256"}})
	edV := mustVerifier(t, Options{PublicKeyFile: writePublicPEM(t, k.ed.Public()), Algorithms: []string{"EdDSA"}})
	jwksV := mustVerifier(t, Options{JWKSFile: jwksPath, Algorithms: []string{"RS256", "ES256"}})

	nested := `{"sub":"a","exp":9999999999,"x":` + strings.Repeat("[", 3000) + strings.Repeat("]", 3000) + `}`
	sigTrail, ok := setTrailingBits(vs)
	require.True(t, ok, "an HS256 signature has unused bits")
	hdrOdd := `{"alg":"HS256" }`
	oddTok := hmacWith(secret, hdrOdd, payload)
	oh, op, _ := splitToken3(oddTok)
	hdrTrail, ok := setTrailingBits(oh)
	require.True(t, ok, "this header has unused bits")
	oddSig := hmacSig(secret, hdrTrail+"."+op)

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  string
	}{
		// alg none and case games
		{"alg none without a signature", hs, b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(payload) + ".", ReasonBadAlgorithm},
		{"alg none with an HMAC signature", hs, hmacWith(secret, `{"alg":"none"}`, payload), ReasonBadAlgorithm},
		{"alg None", hs, hmacWith(secret, `{"alg":"None"}`, payload), ReasonBadAlgorithm},
		{"alg NONE", hs, hmacWith(secret, `{"alg":"NONE"}`, payload), ReasonBadAlgorithm},
		{"alg nOnE", hs, hmacWith(secret, `{"alg":"nOnE"}`, payload), ReasonBadAlgorithm},
		{"alg none with a trailing space", hs, hmacWith(secret, `{"alg":"none "}`, payload), ReasonBadAlgorithm},
		{"alg hs256 correctly signed", hs, hmacWith(secret, `{"alg":"hs256"}`, payload), ReasonBadAlgorithm},
		{"alg Hs256 correctly signed", hs, hmacWith(secret, `{"alg":"Hs256"}`, payload), ReasonBadAlgorithm},
		{"alg HS256 with a trailing space", hs, hmacWith(secret, `{"alg":"HS256 "}`, payload), ReasonBadAlgorithm},
		{"alg HS256 with a NUL", hs, hmacWith(secret, `{"alg":"HS256\u0000"}`, payload), ReasonBadAlgorithm},
		{"HS384 against an HS256-only list", hs, signToken(t, jwt.SigningMethodHS384, secret, validClaims(), nil), ReasonBadAlgorithm},
		{"HS512 against an HS256-only list", hs, signToken(t, jwt.SigningMethodHS512, secret, validClaims(), nil), ReasonBadAlgorithm},
		{"RS256 against an HS256-only list", hs, signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), nil), ReasonBadAlgorithm},
		{"EdDSA against an HS256-only list", hs, signToken(t, jwt.SigningMethodEdDSA, k.ed, validClaims(), nil), ReasonBadAlgorithm},
		{"a header without alg", hs, hmacWith(secret, `{"typ":"JWT"}`, payload), ReasonBadAlgorithm},
		{"an empty header object", hs, hmacWith(secret, `{}`, payload), ReasonBadAlgorithm},
		{"a numeric alg", hs, hmacWith(secret, `{"alg":256}`, payload), ReasonBadAlgorithm},
		{"a null alg", hs, hmacWith(secret, `{"alg":null}`, payload), ReasonBadAlgorithm},
		{"an alg array", hs, hmacWith(secret, `{"alg":["HS256"]}`, payload), ReasonBadAlgorithm},
		{"a critical extension", hs, hmacWith(secret, `{"alg":"HS256","crit":["exp"],"exp":1}`, payload), ReasonUnsupportedHeader},
		{"an unencoded-payload extension", hs, hmacWith(secret, `{"alg":"HS256","b64":false,"crit":["b64"]}`, payload), ReasonUnsupportedHeader},
		{"a numeric kid", hs, hmacWith(secret, `{"alg":"HS256","kid":1}`, payload), ReasonMalformed},

		// algorithm confusion: the public key used as an HMAC secret
		{"HS256 signed with the RSA public key PEM", rsaV, hmacWith(rsaPEMBytes, `{"alg":"HS256","typ":"JWT"}`, payload), ReasonBadAlgorithm},
		{"HS256 signed with the RSA public key DER", rsaV, hmacWith(rsaDER, `{"alg":"HS256"}`, payload), ReasonBadAlgorithm},
		{"RS256 header over an HMAC of the public key PEM", rsaV, hmacWith(rsaPEMBytes, `{"alg":"RS256","typ":"JWT"}`, payload), ReasonBadSignature},
		{"HS256 signed with the JWK set file", jwksV, hmacWith(readFile(t, jwksPath), `{"alg":"HS256","kid":"rsa-1"}`, payload), ReasonBadAlgorithm},
		{"HS256 signed with a JWK modulus", jwksV, hmacWith(k.rsa.N.Bytes(), `{"alg":"HS256","kid":"rsa-1"}`, payload), ReasonBadAlgorithm},
		{"PS256 against an RS256-only list", rsaV, signToken(t, jwt.SigningMethodPS256, k.rsa, validClaims(), nil), ReasonBadAlgorithm},
		{"ES256 signed by the right curve but naming the RSA kid", jwksV, signToken(t, jwt.SigningMethodES256, k.p256, validClaims(), kid("rsa-1")), ReasonBadAlgorithm},
		{"an embedded jwk header carrying the attacker's key", rsaV, rawSigned(t, jwt.SigningMethodRS256, k.rsaOther,
			`{"alg":"RS256","jwk":`+string(mustJSON(t, jwkOf(t, &k.rsaOther.PublicKey, "", "")))+`}`, payload), ReasonBadSignature},
		{"a jku header pointing at the attacker", rsaV, rawSigned(t, jwt.SigningMethodRS256, k.rsaOther,
			`{"alg":"RS256","jku":"https://attacker.example/jwks.json"}`, payload), ReasonBadSignature},
		{"an x5u header pointing at the attacker", rsaV, rawSigned(t, jwt.SigningMethodRS256, k.rsaOther,
			`{"alg":"RS256","x5u":"https://attacker.example/cert.pem"}`, payload), ReasonBadSignature},

		// size and shape
		{"an empty token", hs, "", ReasonMissing},
		{"a token one byte over the limit", hs, valid + "." + strings.Repeat("A", MaxTokenSize-len(valid)), ReasonTooLarge},
		{"a one-mebibyte token", hs, strings.Repeat("A", 1<<20), ReasonTooLarge},
		{"a lone dot", hs, ".", ReasonMalformed},
		{"two dots", hs, "..", ReasonMalformed},
		{"three dots", hs, "...", ReasonMalformed},
		{"a two-segment token", hs, vh + "." + vp, ReasonMalformed},
		{"a one-segment token", hs, vh, ReasonMalformed},
		{"a four-segment token", hs, valid + ".AAAA", ReasonMalformed},
		{"a five-segment token", hs, valid + "." + vs + "." + vs, ReasonMalformed},
		{"an empty header segment", hs, "." + vp + "." + vs, ReasonMalformed},
		{"an empty payload segment", hs, vh + ".." + vs, ReasonMalformed},
		{"an empty signature segment", hs, vh + "." + vp + ".", ReasonBadSignature},
		{"a non-base64 header", hs, "!!!!." + vp + "." + vs, ReasonMalformed},
		{"a non-base64 payload", hs, vh + ".e30*." + vs, ReasonMalformed},
		{"a signature in the standard alphabet", hs, vh + "." + vp + "." + vs[:len(vs)-2] + "+/", ReasonMalformed},
		{"padded segments", hs, vh + "=." + vp + "." + vs, ReasonMalformed},
		{"CR and LF inside the header", hs, vh[:8] + "\r\n" + vh[8:] + "." + vp + "." + vs, ReasonMalformed},
		{"a trailing LF", hs, valid + "\n", ReasonMalformed},
		{"a leading space", hs, " " + valid, ReasonMalformed},
		{"the Bearer scheme left in", hs, "Bearer " + valid, ReasonMalformed},
		{"a NUL byte in the payload", hs, vh + "." + vp[:4] + "\x00" + vp[4:] + "." + vs, ReasonMalformed},
		{"a non-ASCII character in the payload", hs, vh + "." + vp[:4] + "é" + vp[4:] + "." + vs, ReasonMalformed},
		{"a header whose length is impossible in base64", hs, "eyJhb." + vp + "." + vs, ReasonMalformed},
		{"a header with non-zero trailing bits", hs, hdrTrail + "." + op + "." + oddSig, ReasonMalformed},
		{"a signature with non-zero trailing bits", hs, vh + "." + vp + "." + sigTrail, ReasonMalformed},
		{"a header that is not JSON", hs, hmacWith(secret, `hello`, payload), ReasonMalformed},
		{"a header that is a JSON array", hs, hmacWith(secret, `["HS256"]`, payload), ReasonMalformed},
		{"a header that is JSON null", hs, hmacWith(secret, `null`, payload), ReasonMalformed},
		{"a header that is a JSON string", hs, hmacWith(secret, `"HS256"`, payload), ReasonMalformed},
		{"a signed payload that is not JSON", hs, hmacWith(secret, `{"alg":"HS256"}`, `sub=alice`), ReasonMalformed},
		{"a signed payload that is a JSON array", hs, hmacWith(secret, `{"alg":"HS256"}`, `[1,2]`), ReasonMalformed},
		{"a payload nested 3000 levels deep", hs, hmacWith([]byte("wrong"), `{"alg":"HS256"}`, nested), ReasonBadSignature},

		// forged signatures
		{"a signature by another secret", hs, signToken(t, jwt.SigningMethodHS256, []byte("not the secret, but 32 bytes long"), validClaims(), nil), ReasonBadSignature},
		{"a truncated signature", hs, vh + "." + vp + "." + vs[:len(vs)-4], ReasonBadSignature},
		{"an admin payload under a user token's signature", hs, vh + "." + adminPayload + "." + vs, ReasonBadSignature},
		{"an RS256 signature by another key", rsaV, signToken(t, jwt.SigningMethodRS256, k.rsaOther, validClaims(), nil), ReasonBadSignature},
		{"an ES256 signature of the wrong length", ecV, b64(`{"alg":"ES256"}`) + "." + vp + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 63)), ReasonBadSignature},
		{"an ES256 signature of zeros", ecV, b64(`{"alg":"ES256"}`) + "." + vp + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), ReasonBadSignature},
		{"an EdDSA signature of zeros", edV, b64(`{"alg":"EdDSA"}`) + "." + vp + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), ReasonBadSignature},
		{"an EdDSA signature by another key", edV, signToken(t, jwt.SigningMethodEdDSA, k.edOther, validClaims(), nil), ReasonBadSignature},
	}
	distinct := map[string]bool{}
	for _, tt := range tests {
		distinct[tt.token] = true
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.v.Verify(tt.token)
			assert.Equal(t, tt.want, failureReason(t, err))
			assert.Equal(t, Identity{}, id)
			if len(tt.token) >= 8 {
				assert.NotContains(t, err.Error(), tt.token, "errors never carry the token")
				assert.NotContains(t, err.Error(), vs, "errors never carry a signature")
			}
		})
	}
	assert.Equal(t, 73, len(distinct), "update the count in this test's comment and in docs")

	// The untouched token still passes: the table tests the attacks, not a
	// broken verifier.
	_, err = hs.Verify(valid)
	require.NoError(t, err)
	_, err = hs.Verify(oddTok)
	require.NoError(t, err, "the canonical form of the odd-length header verifies")
}

func splitToken3(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

func hmacSig(secret []byte, input string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func mustVerifier(t testing.TB, o Options) *Verifier {
	t.Helper()
	if o.Clock == nil {
		o.Clock = clockAt(testNow)
	}
	v, err := NewVerifier(o)
	require.NoError(t, err)
	return v
}
