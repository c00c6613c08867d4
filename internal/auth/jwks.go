package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/arqonbus/arqonbus/internal/config"
)

// jwk holds the members of one JSON Web Key (RFC 7517) the bus reads, plus
// the private members it must notice in order to refuse them.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	// Private or symmetric material: present means refused.
	D   string `json:"d"`
	P   string `json:"p"`
	Q   string `json:"q"`
	K   string `json:"k"`
	Oth any    `json:"oth"`
}

// jwkCurves maps the JWK "crv" names of ECDSA keys to their curves.
var jwkCurves = map[string]elliptic.Curve{
	"P-256": elliptic.P256(),
	"P-384": elliptic.P384(),
	"P-521": elliptic.P521(),
}

// loadJWKS reads a JWK set file. Keys whose "use" is not "sig", or whose
// "key_ops" lacks "verify", are skipped; every other key must parse, carry
// no private material and, when it names an "alg", name one that fits it.
// Anything else is an error: a half-understood key set is not a trust
// anchor.
func loadJWKS(path string) ([]*verificationKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", config.VarAuthJWKSFile, path, err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", config.VarAuthJWKSFile, path, err)
	}
	return keys, nil
}

// parseJWKS parses the bytes of a JWK set.
func parseJWKS(data []byte) ([]*verificationKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New(`holds no keys (want {"keys":[…]})`)
	}
	var out []*verificationKey
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("key #%d: %w", i, err)
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
			continue
		}
		k, err := j.parse()
		if err != nil {
			name := fmt.Sprintf("key #%d", i)
			if j.Kid != "" {
				name += fmt.Sprintf(" (kid %q)", j.Kid)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// parse turns one JWK into a verification key.
func (j *jwk) parse() (*verificationKey, error) {
	if j.Kty == "oct" {
		return nil, fmt.Errorf("symmetric keys (kty oct) are not accepted in a JWK set; use %s", config.VarAuthJWTSecret)
	}
	if j.D != "" || j.P != "" || j.Q != "" || j.K != "" || j.Oth != nil {
		return nil, errors.New("holds private key material; publish only the public key")
	}
	var k *verificationKey
	switch j.Kty {
	case "RSA":
		pub, err := parseRSAJWK(j.N, j.E)
		if err != nil {
			return nil, err
		}
		k = &verificationKey{kind: kindRSA, key: pub}
	case "EC":
		curve, ok := jwkCurves[j.Crv]
		if !ok {
			return nil, fmt.Errorf("EC curve %q is not supported (want P-256, P-384 or P-521)", j.Crv)
		}
		pub, err := parseECJWK(curve, j.X, j.Y)
		if err != nil {
			return nil, err
		}
		k = &verificationKey{kind: kindEC, curve: curve, key: pub}
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not supported (want Ed25519)", j.Crv)
		}
		x, err := decodeB64("x", j.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
		}
		k = &verificationKey{kind: kindEd25519, key: ed25519.PublicKey(x)}
	case "":
		return nil, errors.New("no kty")
	default:
		return nil, fmt.Errorf("kty %q is not supported (want RSA, EC or OKP)", j.Kty)
	}
	k.kid = j.Kid
	if j.Alg != "" {
		a, ok := algorithms[j.Alg]
		if !ok {
			return nil, fmt.Errorf("alg %q is not a supported signature algorithm", j.Alg)
		}
		if why := k.fits(a); why != "" {
			return nil, fmt.Errorf("alg %q does not fit the key: %s", j.Alg, why)
		}
		k.alg = j.Alg
	}
	return k, nil
}

// decodeB64 decodes a base64url member without padding, as RFC 7518 writes
// them.
func decodeB64(member, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("member %q is missing", member)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("member %q is not base64url without padding: %w", member, err)
	}
	return b, nil
}

// parseRSAJWK builds an RSA public key from its modulus and exponent.
func parseRSAJWK(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := decodeB64("n", n64)
	if err != nil {
		return nil, err
	}
	eb, err := decodeB64("e", e64)
	if err != nil {
		return nil, err
	}
	if len(eb) > 4 {
		return nil, errors.New("RSA exponent is too large")
	}
	var e int
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 {
		return nil, fmt.Errorf("RSA exponent %d is invalid", e)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < MinRSAKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is too short (minimum %d)", n.BitLen(), MinRSAKeyBits)
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// parseECJWK builds an ECDSA public key and checks that the point lies on
// the curve (ParseUncompressedPublicKey does), so an invalid-curve point can
// never reach signature verification.
func parseECJWK(curve elliptic.Curve, x64, y64 string) (*ecdsa.PublicKey, error) {
	x, err := decodeB64("x", x64)
	if err != nil {
		return nil, err
	}
	y, err := decodeB64("y", y64)
	if err != nil {
		return nil, err
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("EC %s coordinates must be %d bytes each", curve.Params().Name, size)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("EC %s point: %w", curve.Params().Name, err)
	}
	return pub, nil
}
