package app

import (
	"fmt"
	"log/slog"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
	"github.com/arqonbus/arqonbus/internal/taskq/redisq"
)

// openTasks opens the work queue (SPEC §11.1) while the prototype lanes
// are open: on the backend's Redis, shared by every node, else in memory.
// Like the key-value store it has no fallback: tasks on a node-local copy
// would be lost to the other nodes' workers. A closed lane opens nothing.
func (st *storage) openTasks(cfg *config.Config) error {
	if !cfg.PrototypeLanesOpen() {
		return nil
	}
	lim := taskLimits(cfg)
	if st.redis == nil {
		st.tasks = memq.New(memq.Options{Limits: lim})
		return nil
	}
	q, err := redisq.New(redisq.Options{Client: st.redis, Limits: lim, Timeout: cfg.RedisTimeout})
	if err != nil {
		return fmt.Errorf("redis task queue: %w", err)
	}
	st.tasks = q
	return nil
}

// taskLimits are what the work queue enforces, from ARQONBUS_TASK_*.
func taskLimits(cfg *config.Config) taskq.Limits {
	return taskq.Limits{
		QueueMax: cfg.TaskQueueMax, MaxAttempts: cfg.TaskMaxAttempts,
		Visibility: cfg.TaskVisibilityTimeout, ResultTTL: cfg.TaskResultTTL,
	}
}

// newDispatcher returns the node's half of the work queue over q, not yet
// started; nil when q is nil (the lane is closed): the commands then
// answer FEATURE_DISABLED and no worker is ever registered.
func newDispatcher(cfg *config.Config, q taskq.Queue, log *slog.Logger, m *metrics.Metrics) *taskq.Dispatcher {
	if q == nil {
		return nil
	}
	return taskq.NewDispatcher(taskq.Options{
		Queue: q, Prefetch: cfg.TaskPrefetch, Visibility: cfg.TaskVisibilityTimeout,
		PollInterval: cfg.TaskPollInterval, MaxGroupsPerWorker: cfg.TaskMaxGroupsPerWorker,
		CallTimeout: cfg.RedisTimeout, Logger: log, Metrics: m,
	})
}
