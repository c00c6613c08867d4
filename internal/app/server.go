package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/broker"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/cron"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/ops"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/transport/ws"
)

// Options are the injected parts of a Server; zero values pick defaults.
type Options struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Clock    func() time.Time
}

// Server is a running ArqonBus node.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	clock   func() time.Time
	metrics *metrics.Metrics
	store   *storage
	hub     *bus.Hub
	broker  broker.Broker
	ws      *ws.Server
	cron    *cron.Scheduler
	tasks   *taskq.Dispatcher // nil while the prototype lanes are closed
	started time.Time

	listeners []net.Listener
	https     []*http.Server
	serveWG   sync.WaitGroup
	ready     atomic.Bool
	draining  atomic.Bool
	shutdown  sync.Once
	errs      chan error
}

// Start builds every component from cfg (already loaded, validated and
// preflighted), binds the listeners and serves in the background. The
// caller stops it with Shutdown.
func Start(ctx context.Context, cfg *config.Config, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &Server{cfg: cfg, log: o.Logger, clock: o.Clock, metrics: metrics.NewWithLabels(o.Registry, knownLabels()),
		errs: make(chan error, 2)}
	v := versionInfo()
	s.metrics.BuildInfo.WithLabelValues(v.Version, v.Commit, v.Go).Set(1)

	var verifier ws.Verifier
	if cfg.EnableAuth {
		av, err := auth.NewVerifier(authOptions(cfg, o.Clock))
		if err != nil {
			return nil, err
		}
		verifier = av
	}
	var err error
	if s.store, err = openStorage(ctx, cfg, s.log, s.metrics); err != nil {
		return nil, err
	}

	s.hub = bus.NewHubWith(bus.HubOptions{MaxSubscriptions: cfg.MaxSubscriptions, Metrics: s.metrics})
	s.metrics.SetCounts(metrics.Counts{
		Rooms: s.hub.RoomCount, Channels: s.hub.PairCount,
		HistoryStreams: s.store.memoryStreams, HistoryMessages: s.store.memoryMessages,
		HistoryBytes: s.store.memoryBytes,
	})
	if s.store.redis != nil {
		// Nodes sharing a Redis share rooms: pub/sub fan-out between them.
		s.broker = broker.NewRedis(broker.RedisOptions{
			Client: s.store.redis, Local: s.hub, Timeout: cfg.RedisTimeout, Logger: s.log,
			Metrics: s.metrics,
		})
	} else {
		s.broker = broker.NewMemory(s.hub)
	}
	publisher := bus.NewPublisher(bus.PublisherOptions{
		Hub: s.hub, Broker: s.broker, Store: s.store.persist(), RequireMembership: cfg.RequireMembership,
		Clock: o.Clock, Logger: s.log, Metrics: s.metrics,
	})
	s.cron = cron.New(cron.Options{
		Fire:         cronFire(publisher, s.log),
		MaxPerClient: cfg.CronMaxJobsPerClient, MaxJobs: cfg.CronMaxJobs,
		Logger: s.log, Metrics: s.metrics,
	})
	s.tasks = newDispatcher(cfg, s.store.tasks, s.log, s.metrics)
	commands := command.New(command.Deps{
		Hub: s.hub, Store: s.store.persist(), Status: s.Status, TenantHistory: s.store.tenantHistory,
		KV: s.store.kv, KVLimits: kvLimits(cfg),
		Cron: s.cron, CronMinInterval: cfg.CronMinInterval,
		PrototypeLanesOpen: cfg.PrototypeLanesOpen(),
		Tasks:              s.tasks, TaskMaxBytes: cfg.TaskMaxBytes,
		TaskQueueMax: cfg.TaskQueueMax, TaskMaxGroups: cfg.TaskMaxGroupsPerWorker,
		AuthEnabled:   cfg.EnableAuth,
		MaxReplyBytes: cfg.SendQueueBytes, Clock: o.Clock, Logger: s.log,
		HistoryReadsPerTenant:     cfg.HistoryReadsPerTenant,
		HistoryReadBytesPerSecond: cfg.HistoryReadBytesPerSecond,
		Metrics:                   s.metrics,
	})
	s.ws = ws.NewServer(ws.Options{
		Hub: s.hub, Presence: s.broker, Publisher: publisher, Commands: commands, Verifier: verifier,
		OnDisconnect:    s.disconnected,
		AllowQueryToken: cfg.AuthAllowQueryToken, AllowedOrigins: cfg.AllowedOrigins,
		MaxConnections: cfg.MaxConnections, MaxMessageSize: cfg.MaxMessageSize, MaxJSONDepth: cfg.MaxJSONDepth,
		Caps: ws.Caps{PerTenant: cfg.MaxConnectionsPerTenant, PerSubject: cfg.MaxConnectionsPerSubject,
			PerAddress: cfg.MaxConnectionsPerAddress, TenantRate: cfg.TenantRateLimitPerSecond},
		SendQueueBytes: cfg.SendQueueBytes, MaxViolations: cfg.MaxViolations,
		RateLimit: cfg.RateLimitPerSecond, RateBurst: cfg.RateLimitBurst, RateLimitGrace: cfg.RateLimitGrace,
		PingInterval: cfg.PingInterval, PongTimeout: cfg.PongTimeout,
		HandshakeTimeout: cfg.HandshakeTimeout, WriteTimeout: cfg.WriteTimeout,
		Metrics: s.metrics, Logger: s.log, Clock: o.Clock,
	})
	if s.tasks != nil {
		s.tasks.Start()
	}
	if err := s.listen(); err != nil {
		s.cron.Close()
		if s.tasks != nil {
			s.tasks.Stop() // no connection was served: no worker joined
		}
		if e := s.broker.Close(); e != nil {
			s.log.Error("close failed", "op", "close", "component", "broker", "err", e)
		}
		_ = s.store.close() // logs its own failures
		return nil, err
	}
	s.started = o.Clock()
	s.ready.Store(true)
	return s, nil
}

// knownLabels are the label values of other packages the metrics start at
// 0: every error code, decoded envelope type, command name and auth label.
func knownLabels() metrics.Labels {
	codes := make([]string, len(protocol.Codes))
	for i, c := range protocol.Codes {
		codes[i] = string(c)
	}
	// Every command label of the table, read from a registry of no
	// dependencies: the node's own is built after the metrics.
	commands := command.New(command.Deps{}).Labels()
	return metrics.Labels{
		ErrorCodes: codes,
		// What protocol.Decode lets through (an event arrives as a message).
		MessageTypes: []string{protocol.TypeMessage, protocol.TypeCommand, protocol.TypeTelemetry,
			protocol.TypeResponse, protocol.TypeError, protocol.TypeOperatorJoin},
		Commands:    commands,
		Success:     protocol.StatusSuccess,
		AuthReasons: auth.Labels(),
	}
}

func authOptions(cfg *config.Config, clock func() time.Time) auth.Options {
	return auth.Options{
		Secret: cfg.AuthJWTSecret, PublicKeyFile: cfg.AuthJWTPublicKeyFile, JWKSFile: cfg.AuthJWKSFile,
		Algorithms: cfg.AuthJWTAlgorithms, Leeway: cfg.AuthLeeway, Issuer: cfg.AuthIssuer,
		Audience: cfg.AuthAudience, RequireTenant: cfg.AuthRequireTenant, Clock: clock,
	}
}

// listen binds the WebSocket port (shared with ops unless HTTPPort is set).
func (s *Server) listen() error {
	cfg := s.cfg
	opsOpts := ops.Options{Status: s.Status, Readiness: s.readiness, Version: versionInfo(), Metrics: s.metrics,
		Token: cfg.OpsToken}
	var handlers []http.Handler
	addrs := []string{net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	if cfg.HTTPPort == 0 {
		opsOpts.WebSocket = s.ws
		handlers = append(handlers, ops.Handler(opsOpts))
	} else {
		handlers = append(handlers, ops.WebSocketOnly(s.ws), ops.Handler(opsOpts))
		addrs = append(addrs, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.HTTPPort)))
	}
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, ln)
		s.https = append(s.https, &http.Server{
			Handler:           handlers[i],
			ReadHeaderTimeout: cfg.HandshakeTimeout,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		})
	}
	for i := range s.https {
		s.serveWG.Add(1)
		go func(srv *http.Server, ln net.Listener) {
			defer s.serveWG.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener failed", "op", "serve", "addr", ln.Addr().String(), "err", err)
				s.metrics.Fail(metrics.FailServe)
				s.errs <- err
			}
		}(s.https[i], s.listeners[i])
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
}

// Addr is the WebSocket listen address (host:port).
func (s *Server) Addr() string { return s.listeners[0].Addr().String() }

// HTTPAddr is the ops endpoints' address.
func (s *Server) HTTPAddr() string { return s.listeners[len(s.listeners)-1].Addr().String() }

// Errors reports fatal listener errors.
func (s *Server) Errors() <-chan error { return s.errs }

// Status is the snapshot for the status command and GET /status.
func (s *Server) Status() command.Status {
	rooms, channels := s.hub.Stats()
	return command.Status{
		Service:       "arqonbus",
		Version:       version,
		Profile:       s.cfg.Environment,
		UptimeSeconds: s.clock().Sub(s.started).Seconds(),
		Connections:   s.ws.Connections(),
		Rooms:         rooms,
		Channels:      channels,
		HistoryRooms:  s.store.memoryStreams(),
		HistoryBytes:  s.store.memoryBytes(),
		Storage:       s.store.health(),
		Persistence:   s.cfg.EnablePersistence,
		Draining:      s.draining.Load(),
	}
}

func (s *Server) readiness() ops.Readiness {
	h := s.store.health()
	return ops.Readiness{
		Ready:    s.ready.Load() && !s.draining.Load() && h.Usable(),
		Storage:  h.State,
		Draining: s.draining.Load(),
	}
}

// disconnected ends what a closed connection owned: its cron jobs and its
// work-queue memberships (the tasks it held go to other workers at once).
func (s *Server) disconnected(clientID string) {
	s.cron.CancelOwner(clientID)
	if s.tasks != nil {
		s.tasks.LeaveAll(clientID)
	}
}

// Shutdown drains the node (SPEC §10): cancel every cron job (no firing
// runs once the bus drains), not ready, stop accepting, close every client
// with 1001 after its queued frames (bounded by ctx; each worker leaves its
// groups as its connection ends), stop the task dispatcher, close storage
// (the task queue with it). It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutdown.Do(func() {
		s.cron.Close()
		s.draining.Store(true)
		s.log.Info("draining", "connections", s.ws.Connections())
		for _, srv := range s.https {
			// Stops the listeners; hijacked WebSocket connections are not
			// the http.Server's to wait for.
			if e := srv.Shutdown(ctx); e != nil {
				err = errors.Join(err, e)
			}
		}
		if e := s.ws.Shutdown(ctx); e != nil {
			err = errors.Join(err, fmt.Errorf("drain connections: %w", e))
		}
		s.serveWG.Wait()
		if s.tasks != nil {
			s.tasks.Stop()
		}
		if e := s.broker.Close(); e != nil {
			err = errors.Join(err, e)
		}
		if e := s.store.close(); e != nil {
			err = errors.Join(err, fmt.Errorf("close storage: %w", e))
		}
		s.log.Info("stopped")
	})
	return err
}
