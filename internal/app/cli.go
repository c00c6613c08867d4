package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
)

// load reads and validates the configuration. When it returns no config,
// the command ends with the returned status: exitOK after --help printed the
// flag reference, exitConfig after the problems were printed.
func load(env Env, args []string) (*config.Config, int) {
	cfg, err := config.LoadEnviron(env.Environ, args)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(env.Stdout)
		return nil, exitOK
	}
	if err != nil {
		printProblems(env.Stderr, "configuration", err)
		return nil, exitConfig
	}
	return cfg, exitOK
}

func printProblems(w io.Writer, what string, err error) {
	var probs *config.Problems
	lines := []string{err.Error()}
	if errors.As(err, &probs) {
		lines = *probs
	}
	fmt.Fprintf(w, "arqonbus: %s refused (%d problem(s)):\n", what, len(lines))
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
}

// runPreflight runs the startup checks. Strict checks apply in staging and
// prod; the checks that guard against a broken start (strict storage without
// Redis, auth without a usable key) apply everywhere.
func runPreflight(ctx context.Context, env Env, cfg *config.Config, log *slog.Logger) bool {
	warnings, err := config.Preflight(ctx, cfg, config.PreflightDeps{PingRedis: pingRedis, CheckAuth: checkAuth})
	for _, w := range warnings {
		log.Warn(w, "op", "preflight")
	}
	if err != nil {
		printProblems(env.Stderr, "preflight", err)
		return false
	}
	return true
}

// pingRedis answers the preflight's "does Redis answer PING in time".
func pingRedis(ctx context.Context, url string, timeout time.Duration) error {
	c, err := redisstore.NewClient(url, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// checkAuth loads the configured keys once, as the server will.
func checkAuth(cfg *config.Config) error {
	_, err := auth.NewVerifier(authOptions(cfg, time.Now))
	return err
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.EffectiveLogFormat() == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logConfigWarnings logs the non-fatal findings of loading (an unknown
// ARQONBUS_* variable, usually a typo) one WARN line each, the same from
// serve and from preflight, which is where an operator looks for them.
func logConfigWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn(w, "op", "config")
	}
}

// storageSummary is the storage part of the startup line. The state comes
// first, in words: the default mode is named "degraded" (a policy: fall back
// to memory if Redis fails), and "storage memory/degraded" read like a
// fault on a healthy node.
func storageSummary(persistence bool, h store.Health) string {
	if !persistence {
		return "storage off (" + config.VarEnablePersistence + "=false)"
	}
	state := h.State
	switch h.State {
	case store.StateOK:
		state = "healthy"
	case store.StateDegraded:
		state = "DEGRADED, serving from memory"
	case store.StateDown:
		state = "DOWN, writes fail"
	}
	if h.Backend != config.BackendRedis {
		return "storage " + h.Backend + ": " + state
	}
	policy := "falls back to memory if Redis fails"
	if h.Mode == config.ModeStrict {
		policy = "refuses writes while Redis is down"
	}
	return fmt.Sprintf("storage %s: %s; mode %s (%s)", h.Backend, state, h.Mode, policy)
}

func serve(ctx context.Context, env Env, args []string) int {
	cfg, code := load(env, args)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg, env.Stderr)
	logConfigWarnings(log, cfg)
	RouteRedisLogs(log)
	if !runPreflight(ctx, env, cfg, log) {
		return exitConfig
	}
	// Signals are caught before the first byte of output, so a SIGTERM sent
	// the moment the node says it listens is a graceful stop, not a kill.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// The process's own environment: it is what the runtime read GOGC from.
	defer startHeapFloor(uint64(cfg.GCHeapFloor), os.LookupEnv, os.ReadFile, log)()
	srv, err := Start(ctx, cfg, Options{Logger: log})
	if err != nil {
		fmt.Fprintf(env.Stderr, "arqonbus: start: %v\n", err)
		return exitFailure
	}
	storage := srv.Status().Storage
	fmt.Fprintf(env.Stdout, "arqonbus listening on %s (ops on %s, profile %s, %s)\n",
		srv.Addr(), srv.HTTPAddr(), cfg.Environment, storageSummary(cfg.EnablePersistence, storage))
	log.Info("serving", "addr", srv.Addr(), "http_addr", srv.HTTPAddr(), "profile", cfg.Environment,
		"storage_backend", cfg.StorageBackend, "storage_mode", cfg.StorageMode, "storage_state", storage.State,
		"auth", cfg.EnableAuth)

	select {
	case sig := <-sigs:
		log.Info("signal received; shutting down", "signal", sig.String())
	case err := <-srv.Errors():
		log.Error("listener failed; shutting down", "err", err)
	case <-ctx.Done():
	}
	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("shutdown finished with errors", "err", err)
		}
		return exitOK
	case sig := <-sigs:
		log.Error("second signal; exiting at once", "signal", sig.String())
		return exitFailure
	}
}

func preflight(ctx context.Context, env Env, args []string) int {
	cfg, code := load(env, args)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg, env.Stderr)
	logConfigWarnings(log, cfg)
	if !runPreflight(ctx, env, cfg, log) {
		return exitConfig
	}
	fmt.Fprintf(env.Stdout, "preflight ok (profile %s, strict checks %v)\n", cfg.Environment, cfg.StrictPreflight())
	return exitOK
}

func configPrint(env Env, args []string) int {
	cfg, code := load(env, args)
	if cfg == nil {
		return code
	}
	if err := cfg.Print(env.Stdout); err != nil {
		fmt.Fprintf(env.Stderr, "arqonbus config print: %v\n", err)
		return exitFailure
	}
	return exitOK
}
