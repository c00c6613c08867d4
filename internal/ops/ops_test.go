package ops

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/metrics"
)

// upgrades stands in for the transport: it answers every request it gets
// with 299, so a test sees which requests reached it.
var upgrades = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })

func status(h http.Handler, method, path string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code
}

func TestUpgradesAreServedOnSlashAndWsOnly(t *testing.T) {
	shared := Handler(Options{
		Status:    func() command.Status { return command.Status{} },
		Readiness: func() Readiness { return Readiness{Ready: true} },
		Metrics:   metrics.New(nil),
		WebSocket: upgrades,
	})
	for name, h := range map[string]http.Handler{"shared with ops": shared, "a port of its own": WebSocketOnly(upgrades)} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, 299, status(h, http.MethodGet, "/"))
			assert.Equal(t, 299, status(h, http.MethodGet, "/ws"))
			assert.Equal(t, http.StatusNotFound, status(h, http.MethodGet, "/wss"))
			assert.Equal(t, http.StatusNotFound, status(h, http.MethodGet, "/ws/x"))
		})
	}
	assert.Equal(t, http.StatusOK, status(shared, http.MethodGet, "/livez"), "ops stay beside the upgrades")
	assert.Equal(t, http.StatusNotFound, status(WebSocketOnly(upgrades), http.MethodGet, "/livez"),
		"the WebSocket-only port serves no ops")
}

func TestWithoutATransportSlashAndWsAreNotFound(t *testing.T) {
	h := Handler(Options{Metrics: metrics.New(nil)})
	assert.Equal(t, http.StatusNotFound, status(h, http.MethodGet, "/"))
	assert.Equal(t, http.StatusNotFound, status(h, http.MethodGet, "/ws"))
}

// With ARQONBUS_OPS_TOKEN set, status and metrics answer only its bearer:
// without it or with another token they get 401 and a Bearer challenge.
// The probes and /version stay open, as orchestrators call them bare.
func TestWithATokenStatusAndMetricsNeedItsBearer(t *testing.T) {
	const token = "an-ops-token-of-32-bytes-or-so.."
	h := Handler(Options{
		Status:    func() command.Status { return command.Status{} },
		Readiness: func() Readiness { return Readiness{Ready: true} },
		Metrics:   metrics.New(nil),
		WebSocket: upgrades,
		Token:     token,
	})
	get := func(path, authorization string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for _, path := range []string{"/metrics", "/metrics/prometheus", "/status"} {
		t.Run(path, func(t *testing.T) {
			for name, authorization := range map[string]string{
				"no header":                "",
				"another token":            "Bearer another-token-of-32-bytes-or-so..",
				"a prefix of the token":    "Bearer " + token[:16],
				"the token and more":       "Bearer " + token + "x",
				"the token without Bearer": token,
				"the token as Basic":       "Basic " + token,
			} {
				rec := get(path, authorization)
				assert.Equal(t, http.StatusUnauthorized, rec.Code, name)
				assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer", name)
				assert.NotContains(t, rec.Body.String(), "arqonbus_", "%s: no metric leaks into the refusal", name)
			}
			assert.Equal(t, http.StatusOK, get(path, "Bearer "+token).Code, "the token opens it")
			assert.Equal(t, http.StatusOK, get(path, "bearer "+token).Code, "the scheme is case-insensitive")
		})
	}
	for _, path := range []string{"/livez", "/health", "/readyz", "/ready", "/version"} {
		assert.Equal(t, http.StatusOK, get(path, "").Code, "%s stays open", path)
	}
	assert.Equal(t, 299, get("/ws", "").Code, "upgrades are the transport's to judge")
}

// Without a token nothing changes: status and metrics answer anyone.
func TestWithoutATokenStatusAndMetricsAreOpen(t *testing.T) {
	h := Handler(Options{
		Status:    func() command.Status { return command.Status{} },
		Readiness: func() Readiness { return Readiness{Ready: true} },
		Metrics:   metrics.New(nil),
	})
	for _, path := range []string{"/metrics", "/metrics/prometheus", "/status"} {
		assert.Equal(t, http.StatusOK, status(h, http.MethodGet, path), path)
	}
}
