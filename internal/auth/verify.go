package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/arqonbus/arqonbus/internal/config"
)

// header is what Verify reads from the JOSE header before trusting anything.
type header struct {
	alg    string
	hasAlg bool
	kid    string
	hasKid bool
	raw    map[string]any
}

// strictB64 decodes the only alphabet a compact JWT may use; strict decoding
// refuses non-zero trailing bits, so each segment has exactly one spelling.
var strictB64 = base64.RawURLEncoding.Strict()

// Verify checks a compact JWS token and returns the identity it carries. On
// refusal the error is a *Failure whose Reason says why; it never contains
// the token. The order of checks is fixed: size, shape, header, algorithm,
// key, signature, then claims, so a claim is judged only once the signature
// proves who wrote it.
func (v *Verifier) Verify(token string) (Identity, error) {
	if v == nil || v.parser == nil {
		return Identity{}, fail(ReasonUnconfigured, "no verifier configured", nil)
	}
	if token == "" {
		return Identity{}, &Failure{Reason: ReasonMissing, Err: ErrMissingToken}
	}
	if len(token) > MaxTokenSize {
		return Identity{}, &Failure{Reason: ReasonTooLarge, Err: ErrTokenTooLarge}
	}
	h, sig, f := inspect(token)
	if f != nil {
		return Identity{}, f
	}
	a, f := v.checkAlgorithm(h)
	if f != nil {
		return Identity{}, f
	}
	if sig == "" {
		return Identity{}, fail(ReasonBadSignature, "token has no signature", nil)
	}
	key, f := v.selectKey(h, a)
	if f != nil {
		return Identity{}, f
	}

	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// The library parsed the header again; insist it saw what we saw
		// and picked the method we vetted.
		if t.Method != a.method || t.Header["alg"] != a.name {
			return nil, errors.New("signing method changed between checks")
		}
		return key.key, nil
	})
	if err == nil || errors.Is(err, jwt.ErrTokenInvalidClaims) {
		// The signature held. Dates beyond year 9999 overflow time
		// arithmetic differently per platform; refuse them before any
		// comparison can be trusted.
		if f := checkDates(claims); f != nil {
			return Identity{}, f
		}
	}
	if err != nil {
		return Identity{}, v.classify(err, claims)
	}
	return v.identity(claims)
}

// inspect checks the token's shape and decodes its header. It returns the
// header and the signature segment.
func inspect(token string) (header, string, *Failure) {
	var h header
	if n := strings.Count(token, "."); n != 2 {
		return h, "", fail(ReasonMalformed, fmt.Sprintf("token has %d segments, want 3", n+1), nil)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; !isB64URL(c) && c != '.' {
			return h, "", fail(ReasonMalformed, fmt.Sprintf("byte %d is outside the base64url alphabet", i), nil)
		}
	}
	hs, rest, _ := strings.Cut(token, ".")
	ps, sig, _ := strings.Cut(rest, ".")
	if hs == "" || ps == "" {
		return h, "", fail(ReasonMalformed, "header or payload segment is empty", nil)
	}
	hb, err := strictB64.DecodeString(hs)
	if err != nil {
		return h, "", fail(ReasonMalformed, "header is not strict base64url", err)
	}
	if err := json.Unmarshal(hb, &h.raw); err != nil || h.raw == nil {
		return h, "", fail(ReasonMalformed, "header is not a JSON object", nil)
	}
	if _, ok := h.raw["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not implement must be refused.
		return h, "", fail(ReasonUnsupportedHeader, "header lists critical extensions (crit)", nil)
	}
	h.alg, h.hasAlg = h.raw["alg"].(string)
	if kid, ok := h.raw["kid"]; ok {
		s, isString := kid.(string)
		if !isString {
			return h, "", fail(ReasonMalformed, "header kid is not a string", nil)
		}
		h.kid, h.hasKid = s, true
	}
	return h, sig, nil
}

// isB64URL reports whether c belongs to the base64url alphabet.
func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// checkAlgorithm matches the header alg exactly against the allow-list.
func (v *Verifier) checkAlgorithm(h header) (algSpec, *Failure) {
	if !h.hasAlg {
		return algSpec{}, fail(ReasonBadAlgorithm, "header has no alg string", nil)
	}
	if strings.EqualFold(h.alg, "none") {
		return algSpec{}, fail(ReasonBadAlgorithm, "alg none is never accepted", nil)
	}
	a, ok := v.allowed[h.alg]
	if !ok {
		return algSpec{}, fail(ReasonBadAlgorithm, "alg "+safeAlg(h.alg)+" is not in "+config.VarAuthJWTAlgorithms, nil)
	}
	return a, nil
}

// safeAlg names an alg for a log line without echoing arbitrary input.
func safeAlg(alg string) string {
	if _, ok := algorithms[alg]; ok {
		return alg
	}
	if didYouMean(alg) != "" {
		return fmt.Sprintf("%q (names are case-sensitive)", alg)
	}
	return "(unknown)"
}

// selectKey finds the key for a token: the single configured key, or the
// JWKS key named by kid. The key must fit the algorithm.
func (v *Verifier) selectKey(h header, a algSpec) (*verificationKey, *Failure) {
	k := v.single
	if v.byKid != nil {
		switch {
		case h.hasKid:
			k = v.byKid[h.kid]
			if k == nil {
				return nil, fail(ReasonUnknownKid, "kid names no key in "+config.VarAuthJWKSFile, nil)
			}
		case v.only != nil:
			k = v.only
		default:
			return nil, fail(ReasonMissingKid, fmt.Sprintf("token has no kid and the key set holds %d keys", v.keyCount), nil)
		}
	}
	if why := k.fits(a); why != "" {
		return nil, fail(ReasonBadAlgorithm, why, nil)
	}
	return k, nil
}
