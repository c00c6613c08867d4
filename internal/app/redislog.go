package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// redisLogger routes go-redis's own messages (dial failures, pool events)
// into the structured log at DEBUG: the storage policy already reports the
// state changes they cause, once, at WARN.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "op", "redis_client")
}

// RouteRedisLogs installs log as go-redis's logger. go-redis keeps one
// global logger, so only a process entry point (serve, a test main) calls it.
func RouteRedisLogs(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }
