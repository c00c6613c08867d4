//go:build e2e

package e2e

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// getWithBearer fetches url with "Authorization: Bearer token".
func getWithBearer(t *testing.T, url, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// A prod binary serving its ops endpoints on the WebSocket port warns at
// startup that /metrics and /status are open to anyone who reaches the bus;
// with ARQONBUS_OPS_TOKEN they answer only its bearer, while the probes
// stay open.
func TestTheOpsTokenGuardsMetricsAndStatusOnThePublicPort(t *testing.T) {
	t.Parallel()
	t.Run("without a token prod warns", func(t *testing.T) {
		t.Parallel()
		p := testutil.RunBinary(t, strictProd("0"))
		p.WaitStderr(t, "unauthenticated on the public WebSocket port", testutil.Timeout)
		code, _, _ := p.Get(t, "/metrics")
		assert.Equal(t, http.StatusOK, code, "the warning is advice: the endpoints still answer")
	})
	t.Run("with a token", func(t *testing.T) {
		t.Parallel()
		const token = "ops-token-for-the-e2e-test-0123"
		p := testutil.RunBinary(t, strictProd("0", "ARQONBUS_OPS_TOKEN="+token))
		for _, path := range []string{"/metrics", "/metrics/prometheus", "/status"} {
			code, headers, body := p.Get(t, path)
			assert.Equal(t, http.StatusUnauthorized, code, "%s without the token", path)
			assert.Contains(t, headers.Get("WWW-Authenticate"), "Bearer", path)
			assert.NotContains(t, body, "arqonbus_", path)
			code, _ = getWithBearer(t, p.HTTP+path, "not-the-ops-token-0123456789")
			assert.Equal(t, http.StatusUnauthorized, code, "%s with another token", path)
			code, body = getWithBearer(t, p.HTTP+path, token)
			assert.Equal(t, http.StatusOK, code, "%s with the token", path)
			assert.NotEmpty(t, body)
		}
		for _, path := range []string{"/livez", "/readyz", "/version"} {
			code, _, _ := p.Get(t, path)
			assert.Equal(t, http.StatusOK, code, "%s stays open for probes", path)
		}
		assert.NotContains(t, p.Stderr(), "unauthenticated on the public WebSocket port", "no warning with a token")
		assert.NotContains(t, p.Stdout()+p.Stderr(), token, "the token never reaches the log")
	})
}
