package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/kv/memkv"
	"github.com/arqonbus/arqonbus/internal/kv/rediskv"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
	"github.com/arqonbus/arqonbus/internal/store/redisstore"
	"github.com/arqonbus/arqonbus/internal/taskq"
)

// storage owns the node's store (the mode policy over its backend), the
// key-value store, the work queue and, with a Redis backend, the Redis
// client the broker, the key-value store and the work queue share.
type storage struct {
	log    *slog.Logger
	kv     kv.Store              // op.store.*: on Redis with the redis backend (no fallback), else memory
	tasks  taskq.Queue           // the work queue: like kv; nil while the prototype lanes are closed
	policy *store.Policy         // nil when persistence is off
	redis  redis.UniversalClient // nil with the memory backend
	memory *memstore.Store       // the memory backend or fallback; nil when persistence is off
	static store.Health          // health when persistence is off
}

func openStorage(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*storage, error) {
	st := &storage{log: log, static: store.Health{Backend: cfg.StorageBackend, Mode: cfg.StorageMode, State: store.StateOK}}
	if cfg.StorageBackend == config.BackendRedis {
		c, err := redisstore.NewClient(cfg.RedisURL, cfg.RedisTimeout)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.VarRedisURL, err)
		}
		st.redis = c
	}
	if err := st.openKV(cfg); err != nil {
		_ = st.close() // logs its own failures
		return nil, err
	}
	if err := st.openTasks(cfg); err != nil {
		_ = st.close() // logs its own failures
		return nil, err
	}
	if !cfg.EnablePersistence {
		return st, nil
	}
	st.memory = memstore.NewWithOptions(memstore.Options{
		MaxPerKey: cfg.MaxHistorySize, MaxBytes: int64(cfg.HistoryMaxBytes),
		TenantMaxBytes: int64(cfg.HistoryTenantMaxBytes), TTL: cfg.HistoryTTL, Metrics: m,
	})
	var primary store.Store = st.memory
	var fallback store.Store
	if st.redis != nil {
		rs, err := redisstore.New(redisstore.Options{
			Client: st.redis, Timeout: cfg.RedisTimeout, MaxLen: int64(cfg.MaxHistorySize),
			TTL: cfg.HistoryTTL, BatchLinger: cfg.RedisBatchLinger, Logger: log, Metrics: m,
		})
		if err != nil {
			_ = st.close() // logs its own failures
			return nil, fmt.Errorf("redis store: %w", err)
		}
		fallback, primary = primary, rs
	}
	st.policy = store.NewPolicy(store.PolicyOptions{
		Mode: cfg.StorageMode, Backend: cfg.StorageBackend, Primary: primary, Fallback: fallback,
		Logger: log, Metrics: m,
	})
	if err := st.policy.Start(ctx); err != nil {
		_ = st.close() // logs its own failures
		return nil, fmt.Errorf("start storage: %w", err)
	}
	return st, nil
}

// openKV opens the key-value store on the backend's Redis, or in memory.
// It has no degraded fallback: a node-local copy would silently diverge
// from the other nodes', so an unreachable Redis is STORAGE_UNAVAILABLE.
func (st *storage) openKV(cfg *config.Config) error {
	lim := kvLimits(cfg)
	if st.redis == nil {
		st.kv = memkv.New(memkv.Options{Limits: lim})
		return nil
	}
	s, err := rediskv.New(rediskv.Options{Client: st.redis, Timeout: cfg.RedisTimeout, Limits: lim})
	if err != nil {
		return fmt.Errorf("redis key-value store: %w", err)
	}
	st.kv = s
	return nil
}

func kvLimits(cfg *config.Config) kv.Limits {
	return kv.Limits{MaxValueBytes: cfg.StoreMaxValueBytes, MaxKeys: cfg.StoreMaxKeys}
}

// persist returns the store messages go to, or nil when persistence is off.
func (st *storage) persist() store.Store {
	if st.policy == nil {
		return nil
	}
	return st.policy
}

// memoryStreams and memoryMessages read the memory store's counts (0 when
// persistence is off).
func (st *storage) memoryStreams() int64 {
	if st.memory == nil {
		return 0
	}
	return st.memory.Streams()
}

func (st *storage) memoryMessages() int64 {
	if st.memory == nil {
		return 0
	}
	return st.memory.Messages()
}

// tenantHistory reads one tenant's part of the memory store (0, 0 when
// persistence is off).
func (st *storage) tenantHistory(tenant string) (rooms, bytes int64) {
	if st.memory == nil {
		return 0, 0
	}
	return st.memory.Tenant(tenant)
}

// memoryBytes reads the size of what the memory store holds (0 when
// persistence is off).
func (st *storage) memoryBytes() int64 {
	if st.memory == nil {
		return 0
	}
	return st.memory.Bytes()
}

func (st *storage) health() store.Health {
	if st.policy == nil {
		return st.static
	}
	return st.policy.Health()
}

// close closes the policy (and with it both stores), the key-value store
// and the work queue, then the Redis client they share. Each failure is
// logged here and all of them are returned.
func (st *storage) close() error {
	var errs []error
	closeOne := func(what string, c interface{ Close() error }) {
		if err := c.Close(); err != nil {
			st.log.Error("close failed", "op", "close", "component", what, "err", err)
			errs = append(errs, fmt.Errorf("close %s: %w", what, err))
		}
	}
	if st.policy != nil {
		closeOne("message store", st.policy)
	}
	if st.kv != nil {
		closeOne("key-value store", st.kv)
	}
	if st.tasks != nil {
		closeOne("task queue", st.tasks)
	}
	if st.redis != nil {
		closeOne("redis client", st.redis)
	}
	return errors.Join(errs...)
}
