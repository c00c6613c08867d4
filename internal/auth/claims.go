package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/arqonbus/arqonbus/internal/config"
)

// maxClaimText bounds sub and tenant_id, in bytes: they become log fields,
// whoami answers and part of storage keys.
const maxClaimText = 256

// maxNumericDate is 9999-12-31T23:59:59Z in seconds since the epoch; larger
// exp, nbf or iat values are refused as out of range.
const maxNumericDate = 253402300799

// checkDates refuses numeric dates whose magnitude time arithmetic cannot
// represent portably.
func checkDates(c jwt.MapClaims) *Failure {
	for _, name := range []string{"exp", "nbf", "iat"} {
		if f, ok := c[name].(float64); ok && (f > maxNumericDate || f < -maxNumericDate) {
			return fail(ReasonBadClaimType, name+" is out of range", nil)
		}
	}
	return nil
}

// classify maps a golang-jwt error to a Failure. Claim errors are ranked so
// that a token with several problems always gets the same reason.
func (v *Verifier) classify(err error, claims jwt.MapClaims) *Failure {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(ReasonMalformed, "", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(ReasonBadSignature, "", jwt.ErrTokenSignatureInvalid)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fail(ReasonBadAlgorithm, "", err)
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fail(ReasonInvalid, "", err)
	}
	missing := errors.Is(err, jwt.ErrTokenRequiredClaimMissing)
	switch {
	case errors.Is(err, jwt.ErrInvalidType):
		return fail(ReasonBadClaimType, "", err)
	case missing && claimAbsent(claims, "exp"):
		return fail(ReasonMissingExp, "token has no exp claim", nil)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail(ReasonExpired, "", jwt.ErrTokenExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fail(ReasonNotYetValid, "", jwt.ErrTokenNotValidYet)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail(ReasonIssuedInFuture, "", jwt.ErrTokenUsedBeforeIssued)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), missing && v.issuer != "" && claimAbsent(claims, "iss"):
		return fail(ReasonBadIssuer, "iss is absent or not the configured issuer", nil)
	case errors.Is(err, jwt.ErrTokenInvalidAudience), missing && v.audience != "":
		return fail(ReasonBadAudience, "aud is absent or does not name the configured audience", nil)
	}
	return fail(ReasonInvalid, "", err)
}

// claimAbsent reports whether a claim is missing the way golang-jwt sees it:
// absent, the empty string, or the number 0.
func claimAbsent(c jwt.MapClaims, name string) bool {
	switch x := c[name].(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	}
	return false
}

// identity reads sub, tenant_id and role from verified claims.
func (v *Verifier) identity(c jwt.MapClaims) (Identity, error) {
	var id Identity

	switch sub := c["sub"].(type) {
	case nil:
		return Identity{}, fail(ReasonMissingSub, "token has no sub claim", nil)
	case string:
		if sub == "" {
			return Identity{}, fail(ReasonMissingSub, "sub claim is empty", nil)
		}
		if why := checkText(sub); why != "" {
			return Identity{}, fail(ReasonBadSub, "sub "+why, nil)
		}
		id.Subject = sub
	default:
		return Identity{}, fail(ReasonBadClaimType, "sub claim is not a string", nil)
	}

	raw, present := c["tenant_id"]
	switch tenant := raw.(type) {
	case string:
		if why := checkText(tenant); why != "" {
			return Identity{}, fail(ReasonBadTenant, "tenant_id "+why, nil)
		}
		id.Tenant = tenant
	default:
		if present {
			return Identity{}, fail(ReasonBadTenant, "tenant_id claim is not a string", nil)
		}
	}
	if v.requireTenant && id.Tenant == "" {
		return Identity{}, fail(ReasonMissingTenant, "token has no tenant_id and "+config.VarAuthRequireTenant+" is true", nil)
	}

	id.Role = RoleUser
	if raw, present := c["role"]; present {
		s, ok := raw.(string)
		if !ok {
			return Identity{}, fail(ReasonBadRole, "role claim is not a string", nil)
		}
		if why := checkEncoding(s); why != "" {
			return Identity{}, fail(ReasonBadRole, "role "+why, nil)
		}
		r, err := ParseRole(s)
		if err != nil {
			return Identity{}, fail(ReasonBadRole, "role claim is not guest, user, operator or admin", nil)
		}
		id.Role = r
	}

	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		// Unreachable after validation; refuse rather than grant forever.
		return Identity{}, fail(ReasonMissingExp, "token has no usable exp claim", nil)
	}
	id.ExpiresAt = exp.Add(v.leeway).UTC()
	return id, nil
}

// checkText says what is wrong with a sub or tenant_id value, or "".
func checkText(s string) string {
	if len(s) > maxClaimText {
		return fmt.Sprintf("is longer than %d bytes", maxClaimText)
	}
	if why := checkEncoding(s); why != "" {
		return why
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

// checkEncoding refuses a claim string that was not valid UTF-8 on the
// wire. The claims are decoded by encoding/json, which silently replaces
// invalid bytes and lone surrogate escapes ("\ud800" without its pair) with
// U+FFFD, so distinct spellings would collapse into one identity: "zz\ud800"
// and "zz\udbff" would be the same tenant. Since the decoded text cannot tell
// a replaced character from a written one, every U+FFFD is refused: no
// issuer has a reason to put the replacement character in an identifier.
func checkEncoding(s string) string {
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return "is not valid UTF-8 or holds a lone surrogate (U+FFFD after decoding)"
	}
	return ""
}
