// Package ops serves the HTTP operations endpoints (SPEC §8): liveness,
// readiness, status, version and Prometheus metrics, and routes WebSocket
// upgrades on / and /ws to the transport. With a token, status and metrics
// answer only its bearer.
//
// Concurrency: the handler is safe for concurrent use; it only reads state
// through the functions it is given.
package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/metrics"
)

// Readiness is the /readyz answer.
type Readiness struct {
	Ready    bool
	Storage  string // store.StateOK, StateDegraded or StateDown
	Draining bool
}

// VersionInfo is the /version answer.
type VersionInfo struct {
	Service  string `json:"service"`
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Protocol string `json:"protocol"`
}

// Options are what the endpoints read.
type Options struct {
	Status    func() command.Status
	Readiness func() Readiness
	Version   VersionInfo
	Metrics   *metrics.Metrics
	// WebSocket, when set, serves upgrades on / and /ws (shared port).
	WebSocket http.Handler
	// Token, when set, is the bearer token /metrics, /metrics/prometheus
	// and /status require (ARQONBUS_OPS_TOKEN): they tell a caller the
	// node's load, tenants' activity and refusal counts. The probes stay
	// open, as orchestrators call them without credentials.
	Token string
}

// Handler returns the ops mux.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	live := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	ready := func(w http.ResponseWriter, _ *http.Request) {
		r := o.Readiness()
		body := map[string]any{"status": "ready", "storage": r.Storage, "draining": r.Draining}
		code := http.StatusOK
		if !r.Ready {
			body["status"] = "not_ready"
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, body)
	}
	var status http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, o.Status()) })
	version := func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, o.Version) }
	var prom http.Handler = promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{ErrorLog: nil})
	if o.Token != "" {
		status, prom = bearer(o.Token, status), bearer(o.Token, prom)
	}

	mux.HandleFunc("GET /livez", live)
	mux.HandleFunc("GET /health", live)
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /ready", ready)
	mux.Handle("GET /status", status)
	mux.HandleFunc("GET /version", version)
	mux.Handle("GET /metrics", prom)
	mux.Handle("GET /metrics/prometheus", prom)
	if o.WebSocket != nil {
		HandleWebSocket(mux, o.WebSocket)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not Found", "details": "no such endpoint: " + r.URL.Path})
	})
	return mux
}

// HandleWebSocket registers h for WebSocket upgrades on / and /ws, the two
// paths clients connect to (SPEC §2). Every listener that takes upgrades
// registers them here, so the paths are spelt once.
func HandleWebSocket(mux *http.ServeMux, h http.Handler) {
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /ws", h)
}

// WebSocketOnly serves upgrades on / and /ws and answers 404 elsewhere: the
// WebSocket listener when the ops endpoints have a port of their own.
func WebSocketOnly(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	HandleWebSocket(mux, h)
	return mux
}

// bearer lets through only requests with "Authorization: Bearer <token>";
// the rest get 401 with a Bearer challenge. Digests of equal length are
// compared in constant time, so neither a matching prefix nor the token's
// length shows in the answer time.
func bearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="arqonbus-ops"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized", "details": "this endpoint needs the ops bearer token (ARQONBUS_OPS_TOKEN)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
