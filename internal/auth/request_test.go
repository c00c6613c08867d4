package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenFromRequest(t *testing.T) {
	exact := strings.Repeat("a", MaxTokenSize)
	over := strings.Repeat("a", MaxTokenSize+1)
	tests := []struct {
		name       string
		headers    []string // Authorization values
		query      string
		allowQuery bool
		want       string
		wantErr    error  // sentinel, when refused
		wantReason string // ReasonOf, when refused
	}{
		{name: "a bearer header gives its token", headers: []string{"Bearer Zq7tk"}, want: "Zq7tk"},
		{name: "the scheme in lower case is accepted", headers: []string{"bearer Zq7tk"}, want: "Zq7tk"},
		{name: "the scheme in upper case is accepted", headers: []string{"BEARER Zq7tk"}, want: "Zq7tk"},
		{name: "the scheme in mixed case is accepted", headers: []string{"BeArEr Zq7tk"}, want: "Zq7tk"},
		{name: "extra spaces around the token are ignored", headers: []string{"  Bearer    Zq7tk   "}, want: "Zq7tk"},
		{name: "a tab may separate scheme and token", headers: []string{"Bearer\tZq7tk"}, want: "Zq7tk"},
		{name: "another scheme is no token", headers: []string{"Basic dXNlcjpwYXNz"}, wantErr: ErrMissingToken},
		{name: "a bare scheme is no token", headers: []string{"Bearer"}, wantErr: ErrMissingToken},
		{name: "a scheme followed by spaces is no token", headers: []string{"Bearer    "}, wantErr: ErrMissingToken},
		{name: "a scheme glued to the token is no token", headers: []string{"BearerZq7tk"}, wantErr: ErrMissingToken},
		{name: "no header and no query is no token", wantErr: ErrMissingToken},
		{name: "two bearer headers are refused as ambiguous", headers: []string{"Bearer a", "Bearer b"}, wantReason: ReasonMalformed},
		{name: "a header token of exactly the limit is returned", headers: []string{"Bearer " + exact}, want: exact},
		{name: "a header token over the limit is too large", headers: []string{"Bearer " + over}, wantErr: ErrTokenTooLarge},
		{name: "a query token is ignored when the query is off", query: "token=Qv9x", wantErr: ErrMissingToken},
		{name: "a query token is used when the query is on", query: "token=Qv9x", allowQuery: true, want: "Qv9x"},
		{name: "access_token is read when the query is on", query: "access_token=Qv9x", allowQuery: true, want: "Qv9x"},
		{name: "auth_token is read when the query is on", query: "auth_token=Qv9x", allowQuery: true, want: "Qv9x"},
		{name: "token wins over access_token and auth_token", query: "auth_token=c&access_token=b&token=a", allowQuery: true, want: "a"},
		{name: "an empty token parameter falls through to the next", query: "token=&access_token=b", allowQuery: true, want: "b"},
		{name: "the header wins over the query", headers: []string{"Bearer h"}, query: "token=Qv9x", allowQuery: true, want: "h"},
		{name: "another scheme falls back to the query", headers: []string{"Basic x"}, query: "token=Qv9x", allowQuery: true, want: "Qv9x"},
		{name: "a query token over the limit is too large", query: "token=" + over, allowQuery: true, wantErr: ErrTokenTooLarge},
		{name: "a query token over the limit is ignored when the query is off", query: "token=" + over, wantErr: ErrMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			r.URL.RawQuery = tt.query
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := TokenFromRequest(r, tt.allowQuery)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				assert.Empty(t, got)
			case tt.wantReason != "":
				assert.Equal(t, tt.wantReason, ReasonOf(err))
				assert.Empty(t, got)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), "Zq7tk", "errors never carry the token")
				assert.NotContains(t, err.Error(), "Qv9x", "errors never carry the token")
			}
		})
	}
}

func TestTokenFromRequestExplainsAnIgnoredQueryToken(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/ws?access_token="+url.QueryEscape("s3cr3t.value.x"), nil)
	_, err := TokenFromRequest(r, false)
	require.ErrorIs(t, err, ErrMissingToken)
	assert.Contains(t, err.Error(), "ARQONBUS_AUTH_ALLOW_QUERY_TOKEN")
	assert.NotContains(t, err.Error(), "s3cr3t", "the ignored token must not reach the log")
}

func TestTokenFromRequestWithoutARequestIsMissing(t *testing.T) {
	_, err := TokenFromRequest(nil, true)
	require.ErrorIs(t, err, ErrMissingToken)
}

func TestWriteHandshakeError(t *testing.T) {
	v := hsVerifier(t, nil)
	_, verifyErr := v.Verify("not-a-token")
	_, bigErr := v.Verify(strings.Repeat("a", MaxTokenSize+1))
	tests := []struct {
		name      string
		err       error
		status    int
		body      string
		challenge bool
	}{
		{"a missing token is 401 Missing bearer token", ErrMissingToken, 401,
			`{"error":"Unauthorized","details":"Missing bearer token"}`, true},
		{"a refused token is 401 Invalid token", verifyErr, 401,
			`{"error":"Unauthorized","details":"Invalid token"}`, true},
		{"an oversized header token is 431", ErrTokenTooLarge, 431,
			`{"error":"Request Header Fields Too Large","details":"Token too large"}`, false},
		{"an oversized token seen by Verify is 431", bigErr, 431,
			`{"error":"Request Header Fields Too Large","details":"Token too large"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteHandshakeError(rec, tt.err)
			assert.Equal(t, tt.status, rec.Code)
			assert.JSONEq(t, tt.body, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			if tt.challenge {
				assert.Equal(t, `Bearer realm="arqonbus"`, rec.Header().Get("WWW-Authenticate"))
			} else {
				assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}
