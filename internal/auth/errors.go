package auth

import (
	"errors"
)

// Reasons are the stable labels a Failure carries. They are log fields and,
// through Label, metric label values (arqonbus_auth_failures_total{reason}),
// so they never change meaning once released and never hold request data.
const (
	ReasonMissing           = "missing"            // no token in the request
	ReasonTooLarge          = "too_large"          // token longer than MaxTokenSize
	ReasonMalformed         = "malformed"          // not three strict base64url segments of JSON
	ReasonUnsupportedHeader = "unsupported_header" // a "crit" header we cannot honour
	ReasonBadAlgorithm      = "bad_algorithm"      // alg absent, not allowed, or unfit for the key
	ReasonMissingKid        = "missing_kid"        // no kid while the key set has several keys
	ReasonUnknownKid        = "unknown_kid"        // kid names no key in the set
	ReasonBadSignature      = "bad_signature"      // signature absent or wrong
	ReasonBadClaimType      = "bad_claim_type"     // a registered claim of the wrong JSON type
	ReasonMissingExp        = "missing_exp"        // no exp claim
	ReasonExpired           = "expired"            // exp is past (beyond the leeway)
	ReasonNotYetValid       = "not_yet_valid"      // nbf is ahead (beyond the leeway)
	ReasonIssuedInFuture    = "issued_in_future"   // iat is ahead (beyond the leeway)
	ReasonBadIssuer         = "bad_issuer"         // iss absent or different from the configured issuer
	ReasonBadAudience       = "bad_audience"       // aud absent or without the configured audience
	ReasonMissingSub        = "missing_sub"        // sub absent or empty
	ReasonBadSub            = "bad_sub"            // sub too long, not UTF-8, or with control characters
	ReasonMissingTenant     = "missing_tenant"     // tenant_id absent or empty while required
	ReasonBadTenant         = "bad_tenant"         // tenant_id not a string, too long, or with control characters
	ReasonBadRole           = "bad_role"           // role not one of guest, user, admin
	ReasonUnconfigured      = "unconfigured"       // Verify called on a nil Verifier
	ReasonInvalid           = "invalid"            // ReasonOf's answer for an error from elsewhere
)

// Reasons lists every label a Failure can carry; Labels lists the ones
// metrics count under.
func Reasons() []string {
	return []string{
		ReasonMissing, ReasonTooLarge, ReasonMalformed, ReasonUnsupportedHeader,
		ReasonBadAlgorithm, ReasonMissingKid, ReasonUnknownKid, ReasonBadSignature,
		ReasonBadClaimType, ReasonMissingExp, ReasonExpired, ReasonNotYetValid,
		ReasonIssuedInFuture, ReasonBadIssuer, ReasonBadAudience, ReasonMissingSub,
		ReasonBadSub, ReasonMissingTenant, ReasonBadTenant, ReasonBadRole,
		ReasonUnconfigured, ReasonInvalid,
	}
}

// LabelInvalidToken is the metric label of every refusal decided before a
// signature was verified. Counting those under their precise reasons would
// let anyone who can read the metrics learn, by forging tokens, which kids
// and algorithms are configured; the precise reason goes to the log only.
const LabelInvalidToken = "invalid_token"

// Label returns the metric label of a refusal reason: LabelInvalidToken for
// every reason decided before the signature held (and for "invalid", which
// may be either), the reason itself for "missing", "unconfigured" and the
// claim reasons, which only a holder of a valid key can reach because Verify
// judges claims after the signature.
func Label(reason string) string {
	switch reason {
	case ReasonTooLarge, ReasonMalformed, ReasonUnsupportedHeader, ReasonBadAlgorithm,
		ReasonMissingKid, ReasonUnknownKid, ReasonBadSignature, ReasonInvalid:
		return LabelInvalidToken
	}
	return reason
}

// Labels lists every value Label answers for a reason of Reasons, so
// metrics can pre-register arqonbus_auth_failures_total{reason}.
func Labels() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if l := Label(r); !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

var (
	// ErrMissingToken says the request carried no token at all; the
	// handshake answers 401 "Missing bearer token".
	ErrMissingToken = errors.New("missing bearer token")
	// ErrTokenTooLarge says the token exceeds MaxTokenSize; the handshake
	// answers 431 without ever parsing it.
	ErrTokenTooLarge = errors.New("token exceeds the size limit")
)

// Failure is why a token was refused. Reason is a stable label from the
// Reason* constants; Err is the detail for the log. Neither ever contains
// the token.
type Failure struct {
	Reason string
	Err    error
}

// Error reads "auth: <reason>: <detail>".
func (f *Failure) Error() string {
	if f.Err == nil {
		return "auth: " + f.Reason
	}
	return "auth: " + f.Reason + ": " + f.Err.Error()
}

// Unwrap exposes the detail, so errors.Is(err, ErrTokenTooLarge) works on
// the result of Verify as well as on TokenFromRequest's.
func (f *Failure) Unwrap() error { return f.Err }

// fail builds a Failure; the detail is a fixed text plus an optional cause.
func fail(reason string, detail string, cause error) *Failure {
	var err error
	switch {
	case cause != nil && detail != "":
		err = &detailError{msg: detail, cause: cause}
	case cause != nil:
		err = cause
	default:
		err = errors.New(detail)
	}
	return &Failure{Reason: reason, Err: err}
}

// detailError prefixes a cause with our own words while keeping it
// reachable by errors.Is.
type detailError struct {
	msg   string
	cause error
}

func (e *detailError) Error() string { return e.msg + ": " + e.cause.Error() }
func (e *detailError) Unwrap() error { return e.cause }

// ReasonOf returns the stable label for any error returned by this package:
// a Failure's Reason, "missing" or "too_large" for the request sentinels,
// "" for nil and "invalid" for anything else, so callers can label a metric
// without a type switch.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var f *Failure
	if errors.As(err, &f) && f.Reason != "" {
		return f.Reason
	}
	switch {
	case errors.Is(err, ErrTokenTooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrMissingToken):
		return ReasonMissing
	}
	return ReasonInvalid
}
