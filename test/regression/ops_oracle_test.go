package regression

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// The handshake told a forger only "Invalid token", but the unauthenticated
// /metrics beside it counted each refusal under its precise reason
// (bad_signature, bad_algorithm, …), so forging a token and reading the
// counters told which algorithms and kids the node accepts. A refusal
// decided before the signature now counts only as invalid_token.
func TestRegression_MetricsNoLongerTellAForgerWhichCheckFailed(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithAuth(secret))
	claims := testutil.Claims("alice", "acme", "user")
	before := s.Counter(t, "auth_failures_total", auth.LabelInvalidToken)
	refusedHandshake(t, s, signHS256(t, "not-the-secret-of-the-node-0123456", map[string]any{"alg": "HS256"}, claims))
	refusedHandshake(t, s, signHS256(t, secret, map[string]any{"alg": "HS384"}, claims))
	assert.Equal(t, before+2, s.Counter(t, "auth_failures_total", auth.LabelInvalidToken))

	code, body := s.Get(t, "/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, precise := range []string{auth.ReasonBadSignature, auth.ReasonBadAlgorithm} {
		assert.NotContains(t, body, `reason="`+precise+`"`)
		assert.True(t, s.Logs.Contains("reason="+precise), "the operator still reads %s in the log", precise)
	}
}

// /metrics and /status answered anyone who could reach the WebSocket port.
// With ARQONBUS_OPS_TOKEN they answer only its bearer; the probes stay open.
func TestRegression_MetricsAndStatusCanBeClosedOnTheSharedPort(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) { c.OpsToken = strings.Repeat("k", 32) }))
	for _, path := range []string{"/metrics", "/status"} {
		code, _ := s.Get(t, path)
		assert.Equal(t, http.StatusUnauthorized, code, path)
	}
	code, _ := s.Get(t, "/livez")
	assert.Equal(t, http.StatusOK, code, "the server is up and its probes open")
}
