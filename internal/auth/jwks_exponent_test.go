package auth

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAnRSAExponentMustBeOddAtLeastThreeAndFitFourBytes: the JWK "e" of an
// RSA key is refused when it is even, below 3, or longer than four bytes.
func TestAnRSAExponentMustBeOddAtLeastThreeAndFitFourBytes(t *testing.T) {
	k := testKeys(t)
	for _, c := range []struct {
		name string
		e    []byte
		want string // "" when the key is accepted
	}{
		{"3, the smallest", []byte{3}, ""},
		{"65537, the usual", []byte{1, 0, 1}, ""},
		{"four bytes", []byte{1, 0, 0, 1}, ""},
		{"five bytes", []byte{1, 0, 0, 0, 1}, "RSA exponent is too large"},
		{"1", []byte{1}, "RSA exponent 1 is invalid"},
		{"even", []byte{1, 0, 0}, "RSA exponent 65536 is invalid"},
		{"4, even and above 3", []byte{4}, "RSA exponent 4 is invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := jwkOf(t, &k.rsa.PublicKey, "rsa-1", "")
			key["e"] = base64.RawURLEncoding.EncodeToString(c.e)
			_, err := parseJWKS(jwksBytes(t, key))
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, `key #0 (kid "rsa-1"): `+c.want, err.Error(), "the error names the key")
		})
	}
}

func TestABadKeyWithoutAKidIsNamedByItsPosition(t *testing.T) {
	k := testKeys(t)
	good := jwkOf(t, &k.rsa.PublicKey, "", "")
	bad := jwkOf(t, &k.rsa.PublicKey, "", "")
	bad["e"] = base64.RawURLEncoding.EncodeToString([]byte{2})
	_, err := parseJWKS(jwksBytes(t, good, bad))
	require.Error(t, err)
	assert.Equal(t, "key #1: RSA exponent 2 is invalid", err.Error())
}
