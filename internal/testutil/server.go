// Package testutil holds the helpers every test tier shares: an in-process
// server, clients, eventual assertions, metrics, tokens and the built
// binary. Redis for tests (miniredis, a real server in a container or a
// process) is in testutil/redistest. It is imported only from tests.
package testutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/app"
	"github.com/arqonbus/arqonbus/internal/config"
)

// quietRedis keeps go-redis's global logger off the test output; servers
// report Redis trouble through their own logs and metrics.
var quietRedis sync.Once

// Server is an in-process ArqonBus on 127.0.0.1 with a free port.
type Server struct {
	*app.Server
	Config   *config.Config
	Registry *prometheus.Registry
	// URL is the WebSocket endpoint (ws://127.0.0.1:port/ws).
	URL string
	// HTTP is the ops base URL (http://127.0.0.1:port).
	HTTP string
	Logs *LogBuffer
}

// Option changes the configuration before the server starts.
type Option func(*config.Config)

// WithConfig applies f to the configuration.
func WithConfig(f func(*config.Config)) Option { return Option(f) }

// WithRedis points the server at a Redis URL (redistest.Redis,
// redistest.MiniRedis) with the given storage mode.
func WithRedis(url, mode string) Option {
	return func(c *config.Config) {
		c.StorageBackend = config.BackendRedis
		c.StorageMode = mode
		c.RedisURL = url
	}
}

// WithAuth turns HS256 authentication on with secret.
func WithAuth(secret string) Option {
	return func(c *config.Config) {
		c.EnableAuth = true
		c.AuthJWTSecret = secret
		c.AuthJWTAlgorithms = []string{"HS256"}
	}
}

// StartServer starts a dev-profile server on 127.0.0.1:0 with memory storage,
// waits until /readyz answers 200 and shuts it down when the test ends.
func StartServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config.Default(config.ProfileDev)
	cfg.Host, cfg.Port = "127.0.0.1", 0
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test server configuration: %v", err)
	}
	quietRedis.Do(func() { app.RouteRedisLogs(slog.New(slog.DiscardHandler)) })
	logs := &LogBuffer{}
	reg := prometheus.NewRegistry()
	srv, err := app.Start(context.Background(), &cfg, app.Options{
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: reg,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	s := &Server{Server: srv, Config: &cfg, Registry: reg, Logs: logs,
		URL: "ws://" + srv.Addr() + "/ws", HTTP: "http://" + srv.HTTPAddr()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	Eventually(t, func() bool {
		code, _ := s.Get(t, "/readyz")
		return code == http.StatusOK
	}, 5*time.Second, "server ready")
	return s
}

// Get fetches an ops endpoint and returns the status and body.
func (s *Server) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.HTTP+path, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Counter reads a metric's current value: name without the arqonbus_ prefix
// and its label values in order.
func (s *Server) Counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	return MetricValue(t, s.Registry, name, labels...)
}

// MetricValue reads one series of an arqonbus metric from reg. A name or
// label set that matches no series fails t rather than reading as 0.
func MetricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	full := "arqonbus_" + name
	for _, f := range families {
		if f.GetName() != full {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsMatch(m.GetLabel(), labels) {
				return sampleValue(m)
			}
		}
		t.Fatalf("metric %s has no series with labels %q (every known series starts at 0, so this is a wrong label, not a count of 0)", full, labels)
	}
	t.Fatalf("no metric %s is registered: a misspelt name would otherwise read as 0", full)
	return 0
}

func labelsMatch[L interface{ GetValue() string }](got []L, want []string) bool {
	if len(want) == 0 {
		return true
	}
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].GetValue() != want[i] {
			return false
		}
	}
	return true
}

// LogBuffer collects a server's log lines for assertions and failure output.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether the log holds s.
func (l *LogBuffer) Contains(s string) bool { return strings.Contains(l.String(), s) }

// Eventually polls cond (see Poll) until it holds or timeout passes, then
// fails the test with what.
func Eventually(t testing.TB, cond func() bool, timeout time.Duration, what string, args ...any) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, fmt.Sprintf(what, args...))
	}
}

// pollInterval is how often Poll checks its condition.
const pollInterval = 10 * time.Millisecond

// Poll checks cond every pollInterval until it holds (true) or timeout
// passes (false, after one last check). It is Eventually for a wait whose
// failure the test reports itself: with the last state seen, or as an
// error that lets the test go on.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}
