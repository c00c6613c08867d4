package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/arqonbus/arqonbus/internal/config"
)

// MaxTokenSize is the largest token accepted, in bytes (8 KiB). Anything
// longer is refused before parsing so a hostile client cannot make the
// handshake decode megabytes of base64 and JSON.
const MaxTokenSize = 8 << 10

// queryTokenParams are the compatibility query parameters, in the order they
// are consulted. They exist for browsers, which cannot set headers on a
// WebSocket upgrade; they leak into access logs, hence the switch.
var queryTokenParams = []string{"token", "access_token", "auth_token"}

// Challenge is the WWW-Authenticate value of every 401 handshake answer.
const Challenge = `Bearer realm="arqonbus"`

// TokenFromRequest finds the token of a handshake request: first an
// "Authorization: Bearer <token>" header (scheme in any case, surrounding
// spaces ignored), then, only when allowQuery is true, the query parameters
// token, access_token and auth_token. It returns ErrMissingToken when there is
// none (wrapped with a hint when a query token was present but not allowed)
// and ErrTokenTooLarge when the token exceeds MaxTokenSize, so the server can
// answer 431. The token is never part of an error.
func TokenFromRequest(r *http.Request, allowQuery bool) (string, error) {
	if r == nil {
		return "", ErrMissingToken
	}
	var bearer []string
	for _, v := range r.Header.Values("Authorization") {
		if tok, ok := parseBearer(v); ok {
			bearer = append(bearer, tok)
		}
	}
	switch len(bearer) {
	case 0:
	case 1:
		if len(bearer[0]) > MaxTokenSize {
			return "", ErrTokenTooLarge
		}
		return bearer[0], nil
	default:
		// Two bearer headers: a proxy and the bus could each pick a
		// different one, so refuse rather than guess.
		return "", fail(ReasonMalformed, "more than one Authorization: Bearer header", nil)
	}

	if r.URL == nil {
		return "", ErrMissingToken
	}
	q := r.URL.Query()
	for _, name := range queryTokenParams {
		v := q.Get(name)
		if v == "" {
			continue
		}
		if !allowQuery {
			return "", fmt.Errorf("%w: a %q query parameter was ignored because %s is false",
				ErrMissingToken, name, config.VarAuthAllowQueryToken)
		}
		if len(v) > MaxTokenSize {
			return "", ErrTokenTooLarge
		}
		return v, nil
	}
	return "", ErrMissingToken
}

// parseBearer returns the credentials of a Bearer authorization value. The
// scheme is case-insensitive (RFC 9110 §11.1) and any run of spaces or tabs
// may separate it from the token.
func parseBearer(v string) (string, bool) {
	v = strings.Trim(v, " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 || !strings.EqualFold(v[:i], "Bearer") {
		return "", false
	}
	tok := strings.Trim(v[i:], " \t")
	return tok, tok != ""
}

// HandshakeStatus maps an error from TokenFromRequest or Verify to the
// handshake answer of SPEC §2: 431 for an oversized token, otherwise 401 with
// "Missing bearer token" or "Invalid token". The precise reason is for the
// log only, never for the client.
func HandshakeStatus(err error) (status int, details string) {
	switch {
	case errors.Is(err, ErrTokenTooLarge):
		return http.StatusRequestHeaderFieldsTooLarge, "Token too large"
	case errors.Is(err, ErrMissingToken):
		return http.StatusUnauthorized, "Missing bearer token"
	}
	return http.StatusUnauthorized, "Invalid token"
}

// WriteHandshakeError writes the refusal for err before any upgrade: the
// status from HandshakeStatus, a JSON body {"error":…,"details":…},
// Cache-Control: no-store, and on 401 the WWW-Authenticate challenge.
func WriteHandshakeError(w http.ResponseWriter, err error) {
	status, details := HandshakeStatus(err)
	title := "Unauthorized"
	if status != http.StatusUnauthorized {
		title = http.StatusText(status)
	}
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Details string `json:"details"`
	}{title, details})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", Challenge)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
