package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/arqonbus/arqonbus/internal/config"
)

// Explain tells a human why v refuses token, or which identity it maps to,
// for `arqonbus token check`. Unlike a Failure it may quote claim values (the
// person asking holds the token already), labelled as unverified unless the
// token was accepted; it never prints the token itself.
func Explain(v *Verifier, token string) string {
	if v == nil {
		return "refused (unconfigured): no verifier; enable " + config.VarEnableAuth + " and configure a key"
	}
	var b strings.Builder
	now := v.now()
	id, err := v.Verify(token)
	hdr, claims := peek(token)
	if err == nil {
		tenant := "(none)"
		if id.Tenant != "" {
			tenant = quote(id.Tenant)
		}
		fmt.Fprintf(&b, "accepted: subject %s, tenant %s, role %s\n", quote(id.Subject), tenant, id.Role)
		fmt.Fprintf(&b, "  valid until %s (in %s; exp plus %s leeway)\n",
			id.ExpiresAt.UTC().Format(time.RFC3339), id.ExpiresAt.Sub(now).Round(time.Second), v.leeway)
	} else {
		reason := ReasonOf(err)
		fmt.Fprintf(&b, "refused (%s): %s\n", reason, v.why(reason, err, token, hdr, claims, now))
	}
	if hdr != nil {
		label := "header (unverified):"
		if err == nil {
			label = "header:"
		}
		fmt.Fprintf(&b, "  %s %s\n", label, describeMap(hdr, nil))
	}
	if claims != nil {
		label := "claims (unverified):"
		switch {
		case err == nil:
			label = "claims:"
		case signatureHeld(ReasonOf(err)):
			label = "claims (signature valid):"
		}
		fmt.Fprintf(&b, "  %s %s\n", label, describeMap(claims, timeClaims))
	}
	fmt.Fprintf(&b, "  verifier: algorithms %s, key from %s, leeway %s", strings.Join(v.allowList, ","), v.source, v.leeway)
	if v.issuer != "" {
		fmt.Fprintf(&b, ", issuer %s", quote(v.issuer))
	}
	if v.audience != "" {
		fmt.Fprintf(&b, ", audience %s", quote(v.audience))
	}
	if v.requireTenant {
		b.WriteString(", tenant required")
	}
	fmt.Fprintf(&b, ", now %s\n", now.UTC().Format(time.RFC3339))
	return b.String()
}

// why is the one-line explanation of a refusal reason.
func (v *Verifier) why(reason string, err error, token string, hdr, claims map[string]any, now time.Time) string {
	at := func(name string) string { return claimTime(claims, name) }
	switch reason {
	case ReasonMissing:
		return "the token is empty"
	case ReasonTooLarge:
		return fmt.Sprintf("the token is %d bytes; the limit is %d", len(token), MaxTokenSize)
	case ReasonMalformed:
		return "the token is not header.payload.signature in strict base64url holding JSON objects (" + detail(err) + ")"
	case ReasonUnsupportedHeader:
		return "the header lists critical extensions (crit) that the bus does not implement"
	case ReasonBadAlgorithm:
		return fmt.Sprintf("%s; %s is %s, matched exactly, and none is never accepted",
			detail(err), config.VarAuthJWTAlgorithms, strings.Join(v.allowList, ","))
	case ReasonMissingKid:
		return fmt.Sprintf("the token has no kid header and %s holds %d keys; sign with a key's kid", config.VarAuthJWKSFile, v.keyCount)
	case ReasonUnknownKid:
		return fmt.Sprintf("kid %s names no key in %s (known: %s)", quote(hdr["kid"]), config.VarAuthJWKSFile, strings.Join(v.kids(), ", "))
	case ReasonBadSignature:
		return fmt.Sprintf("the signature does not match the key from %s: signed with another key, or altered", v.source)
	case ReasonBadClaimType:
		return "a claim has the wrong JSON type: exp, nbf and iat are numbers; iss and sub strings; aud a string or array of strings (" + detail(err) + ")"
	case ReasonMissingExp:
		return "the token has no exp claim; tokens that never expire are refused"
	case ReasonExpired:
		return fmt.Sprintf("exp %s is past: now %s, leeway %s", at("exp"), now.UTC().Format(time.RFC3339), v.leeway)
	case ReasonNotYetValid:
		return fmt.Sprintf("nbf %s is ahead: now %s, leeway %s", at("nbf"), now.UTC().Format(time.RFC3339), v.leeway)
	case ReasonIssuedInFuture:
		return fmt.Sprintf("iat %s is ahead: now %s, leeway %s; check the issuer's clock", at("iat"), now.UTC().Format(time.RFC3339), v.leeway)
	case ReasonBadIssuer:
		return fmt.Sprintf("iss is %s; %s wants %s", quote(claims["iss"]), config.VarAuthIssuer, quote(v.issuer))
	case ReasonBadAudience:
		return fmt.Sprintf("aud is %s; %s wants %s", quote(claims["aud"]), config.VarAuthAudience, quote(v.audience))
	case ReasonMissingSub:
		return "the token has no sub claim, or it is empty"
	case ReasonMissingTenant:
		return "the token has no tenant_id and " + config.VarAuthRequireTenant + " is true"
	case ReasonBadRole:
		return fmt.Sprintf("role is %s; want \"guest\", \"user\" or \"admin\" exactly, or no role claim for user", quote(claims["role"]))
	}
	return detail(err)
}

// signatureHeld reports whether a refusal reason is only given after the
// signature verified, so the claims shown are the issuer's own.
func signatureHeld(reason string) bool {
	switch reason {
	case ReasonBadClaimType, ReasonMissingExp, ReasonExpired, ReasonNotYetValid,
		ReasonIssuedInFuture, ReasonBadIssuer, ReasonBadAudience, ReasonMissingSub,
		ReasonBadSub, ReasonMissingTenant, ReasonBadTenant, ReasonBadRole:
		return true
	}
	return false
}

// timeClaims are shown as times as well as numbers.
var timeClaims = map[string]bool{"exp": true, "nbf": true, "iat": true}

// kids lists the key ids of a JWKS verifier, sorted.
func (v *Verifier) kids() []string {
	var out []string
	for k := range v.byKid {
		out = append(out, quote(k))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// detail is the detail of a Failure, or the error text.
func detail(err error) string {
	if f, ok := err.(*Failure); ok && f.Err != nil {
		return f.Err.Error()
	}
	return err.Error()
}

// peek decodes header and payload without verifying anything, for display.
func peek(token string) (hdr, claims map[string]any) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil
	}
	decode := func(seg string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return nil
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return nil
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

// describeMap prints a JSON object's members sorted, quoted and shortened.
func describeMap(m map[string]any, times map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if !isPlainName(k) {
			name = quote(k)
		}
		if times[k] {
			parts = append(parts, name+"="+claimTime(m, k))
			continue
		}
		parts = append(parts, name+"="+quote(m[k]))
	}
	return strings.Join(parts, " ")
}

// isPlainName reports whether a member name can be printed bare.
func isPlainName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isB64URL(c) {
			return false
		}
	}
	return true
}

// claimTime renders a NumericDate claim as "1700000000 (2023-11-14T22:13:20Z)".
func claimTime(m map[string]any, name string) string {
	f, ok := m[name].(float64)
	if !ok {
		return quote(m[name])
	}
	if math.Abs(f) > 1e12 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.0f (%s)", f, time.Unix(int64(f), 0).UTC().Format(time.RFC3339))
}

// quote renders any JSON value on one line, escaped and at most 80 bytes,
// so a hostile claim cannot forge extra output lines.
func quote(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "(absent)"
	case string:
		s = fmt.Sprintf("%q", x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "(unprintable)"
		}
		s = string(b)
	}
	if len(s) > 80 {
		cut := 77
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
