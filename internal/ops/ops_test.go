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
