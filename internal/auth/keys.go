package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/arqonbus/arqonbus/internal/config"
)

// keySource is where a Verifier's keys come from. Every NewVerifier error
// names the variable an operator changes to fix it; String gives the one
// that configures the source (config owns the names).
type keySource int

const (
	sourceNone keySource = iota
	sourceSecret
	sourcePublicKeyFile
	sourceJWKS
)

func (s keySource) String() string {
	switch s {
	case sourceSecret:
		return config.VarAuthJWTSecret
	case sourcePublicKeyFile:
		return config.VarAuthJWTPublicKeyFile
	case sourceJWKS:
		return config.VarAuthJWKSFile
	}
	return "no key source"
}

// MinSecretBytes is the shortest HMAC secret the strict preflight accepts
// in staging and prod, in bytes: 256 bits, the output size of HS256.
const MinSecretBytes = 32

// MinRSAKeyBits is the smallest RSA modulus accepted, in bits. Shorter keys
// are refused at load time rather than trusted.
const MinRSAKeyBits = 2048

// maxKeyFileBytes bounds what NewVerifier reads from a key file (1 MiB):
// a real PEM key or JWK set is a few kilobytes.
const maxKeyFileBytes = 1 << 20

// keyKind is the family of a verification key; an algorithm works with
// exactly one family, which is what prevents algorithm confusion.
type keyKind int

const (
	kindHMAC keyKind = iota + 1
	kindRSA
	kindEC
	kindEd25519
)

func (k keyKind) String() string {
	switch k {
	case kindHMAC:
		return "HMAC secret"
	case kindRSA:
		return "RSA key"
	case kindEC:
		return "EC key"
	case kindEd25519:
		return "Ed25519 key"
	}
	return "unknown key"
}

// algSpec ties an algorithm name to the key family (and curve) it needs and
// to the golang-jwt method that must carry it.
type algSpec struct {
	name   string
	kind   keyKind
	curve  elliptic.Curve // EC only
	method jwt.SigningMethod
}

// algorithms lists every name the allow-list may hold, spelled exactly as in
// RFC 7518 / RFC 8037. "none" is deliberately absent.
var algorithms = map[string]algSpec{
	"HS256": {"HS256", kindHMAC, nil, jwt.SigningMethodHS256},
	"HS384": {"HS384", kindHMAC, nil, jwt.SigningMethodHS384},
	"HS512": {"HS512", kindHMAC, nil, jwt.SigningMethodHS512},
	"RS256": {"RS256", kindRSA, nil, jwt.SigningMethodRS256},
	"RS384": {"RS384", kindRSA, nil, jwt.SigningMethodRS384},
	"RS512": {"RS512", kindRSA, nil, jwt.SigningMethodRS512},
	"PS256": {"PS256", kindRSA, nil, jwt.SigningMethodPS256},
	"PS384": {"PS384", kindRSA, nil, jwt.SigningMethodPS384},
	"PS512": {"PS512", kindRSA, nil, jwt.SigningMethodPS512},
	"ES256": {"ES256", kindEC, elliptic.P256(), jwt.SigningMethodES256},
	"ES384": {"ES384", kindEC, elliptic.P384(), jwt.SigningMethodES384},
	"ES512": {"ES512", kindEC, elliptic.P521(), jwt.SigningMethodES512},
	"EdDSA": {"EdDSA", kindEd25519, nil, jwt.SigningMethodEdDSA},
}

// algorithmNames is the supported set in a stable order, for messages.
var algorithmNames = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}

// verificationKey is one key the verifier may use.
type verificationKey struct {
	kid   string // JWKS only; "" when the key has none
	alg   string // the JWK "alg" member; "" = any algorithm of the family
	kind  keyKind
	curve elliptic.Curve // EC only
	key   any            // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// describe names the key for messages: "RSA key", "EC P-256 key".
func (k *verificationKey) describe() string {
	if k.kind == kindEC {
		return "EC " + k.curve.Params().Name + " key"
	}
	return k.kind.String()
}

// fits reports why the key cannot verify a token of algorithm a ("" when it
// can): the family and curve must match, and so must the JWK's own alg.
func (k *verificationKey) fits(a algSpec) string {
	if k.kind != a.kind || (a.kind == kindEC && k.curve != a.curve) {
		return fmt.Sprintf("%s needs %s, not %s", a.name, algNeeds(a), k.describe())
	}
	if k.alg != "" && k.alg != a.name {
		return fmt.Sprintf("the key is restricted to %s", k.alg)
	}
	return ""
}

// algNeeds names the key an algorithm needs, for messages.
func algNeeds(a algSpec) string {
	switch a.kind {
	case kindHMAC:
		return "an HMAC secret"
	case kindRSA:
		return "an RSA key"
	case kindEC:
		return "an EC " + a.curve.Params().Name + " key"
	}
	return "an Ed25519 key"
}

// readKeyFile reads a key file with a size bound.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileBytes)
	}
	return data, nil
}

// loadPEMKey reads a PEM public key: a PUBLIC KEY (PKIX), an RSA PUBLIC KEY
// (PKCS #1) or a CERTIFICATE, whose public key is used as is (the
// certificate's dates and chain are not checked: the file is the trust
// anchor). Private keys are refused: a signing key does not belong on the
// bus, and accepting one would hide that it was copied there.
func loadPEMKey(path string) (*verificationKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", config.VarAuthJWTPublicKeyFile, path, err)
	}
	k, err := parsePEMKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", config.VarAuthJWTPublicKeyFile, path, err)
	}
	return k, nil
}

// parsePEMKey parses the single PEM block of a public key file.
func parsePEMKey(data []byte) (*verificationKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found (want -----BEGIN PUBLIC KEY-----)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("holds more than one PEM block; keep one public key, or use %s for several keys", config.VarAuthJWKSFile)
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("holds a private key (%s); give the bus only the public key (openssl pkey -pubout)", block.Type)
		}
		return nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return classifyPublicKey(pub)
}

// classifyPublicKey wraps a parsed public key, refusing the kinds and sizes
// the bus does not trust.
func classifyPublicKey(pub any) (*verificationKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSAKeyBits {
			return nil, fmt.Errorf("RSA key of %d bits is too short (minimum %d)", k.N.BitLen(), MinRSAKeyBits)
		}
		return &verificationKey{kind: kindRSA, key: k}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return &verificationKey{kind: kindEC, curve: k.Curve, key: k}, nil
		}
		return nil, fmt.Errorf("EC curve %s is not supported (want P-256, P-384 or P-521)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return &verificationKey{kind: kindEd25519, key: k}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T (want RSA, ECDSA or Ed25519)", pub)
}
