package auth

import (
	"encoding/base64"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Why "any single-byte change is refused" can be demanded outright here:
//
// A compact JWS is three base64url texts, and the signature covers the first
// two as text, so changing a byte of the header or payload changes the
// signing input and the signature no longer matches. The only way a change
// could survive is inside the signature segment, where a lenient base64
// decoder maps several spellings to the same bytes: the last character of a
// segment whose length is not a multiple of four carries two or four unused
// bits, and decoders skip CR and LF. An HS256 signature is 43 characters
// with two unused bits, so with lenient decoding three other final
// characters yield the same signature and the same identity.
//
// The verifier closes both doors: it refuses any byte outside the base64url
// alphabet (so no CR, LF, '=' or '+') and decodes strictly, refusing
// non-zero unused bits. Each segment therefore has exactly one spelling, and
// TestTrailingBitsSpellTheSameSignatureButAreRefused shows the case exists
// and is refused. The properties below may then require every change to fail.

type mutationTarget struct {
	name  string
	v     *Verifier
	token string
}

func mutationTargets(t *testing.T) []mutationTarget {
	k := testKeys(t)
	rsaV := mustVerifier(t, Options{PublicKeyFile: writePublicPEM(t, &k.rsa.PublicKey), Algorithms: []string{"RS256", "PS256"}})
	ecV := mustVerifier(t, Options{PublicKeyFile: writePublicPEM(t, &k.p256.PublicKey), Algorithms: []string{"ES256"}})
	edV := mustVerifier(t, Options{PublicKeyFile: writePublicPEM(t, k.ed.Public()), Algorithms: []string{"EdDSA"}})
	return []mutationTarget{
		{"HS256", hsVerifier(t, nil), hsToken(t, validClaims())},
		{"RS256", rsaV, signToken(t, jwt.SigningMethodRS256, k.rsa, validClaims(), nil)},
		{"PS256", rsaV, signToken(t, jwt.SigningMethodPS256, k.rsa, validClaims(), nil)},
		{"ES256", ecV, signToken(t, jwt.SigningMethodES256, k.p256, validClaims(), nil)},
		{"EdDSA", edV, signToken(t, jwt.SigningMethodEdDSA, k.ed, validClaims(), nil)},
	}
}

func TestAnySingleByteChangeIsRefused(t *testing.T) {
	targets := mutationTargets(t)
	for _, tg := range targets {
		_, err := tg.v.Verify(tg.token)
		require.NoError(t, err, "%s: the unmodified token must verify", tg.name)
	}
	rapid.Check(t, func(rt *rapid.T) {
		tg := rapid.SampledFrom(targets).Draw(rt, "target")
		i := rapid.IntRange(0, len(tg.token)-1).Draw(rt, "index")
		b := rapid.Byte().Filter(func(b byte) bool { return b != tg.token[i] }).Draw(rt, "byte")
		mutated := tg.token[:i] + string([]byte{b}) + tg.token[i+1:]
		if id, err := tg.v.Verify(mutated); err == nil {
			rt.Fatalf("%s: byte %d changed to %#x was accepted as %+v", tg.name, i, b, id)
		}
	})
}

// TestEverySingleByteChangeOfAnHS256TokenIsRefused is the exhaustive form
// of the property for the cheapest algorithm: every position, every value.
func TestEverySingleByteChangeOfAnHS256TokenIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive mutation skipped in -short mode")
	}
	v := hsVerifier(t, nil)
	tok := hsToken(t, validClaims())
	buf := []byte(tok)
	accepted := 0
	for i := range buf {
		orig := buf[i]
		for b := 0; b < 256; b++ {
			if byte(b) == orig {
				continue
			}
			buf[i] = byte(b)
			if _, err := v.Verify(string(buf)); err == nil {
				accepted++
				t.Errorf("byte %d changed to %#x was accepted", i, b)
			}
		}
		buf[i] = orig
	}
	assert.Zero(t, accepted)
}

func TestTrailingBitsSpellTheSameSignatureButAreRefused(t *testing.T) {
	v := hsVerifier(t, nil)
	tok := hsToken(t, validClaims())
	h, p, s := splitToken3(tok)
	require.Equal(t, 43, len(s), "an HS256 signature is 43 characters with 2 unused bits")

	variants := 0
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		if c == s[len(s)-1] {
			continue
		}
		alt := s[:len(s)-1] + string(c)
		lenient, err := base64.RawURLEncoding.DecodeString(alt)
		require.NoError(t, err)
		canonical, _ := base64.RawURLEncoding.DecodeString(s)
		if string(lenient) != string(canonical) {
			continue
		}
		variants++
		_, err = v.Verify(h + "." + p + "." + alt)
		assert.Equal(t, ReasonMalformed, failureReason(t, err), "a non-canonical spelling is refused")
	}
	assert.Equal(t, 3, variants, "two unused bits give three other spellings of the same bytes")
}
