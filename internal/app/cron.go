package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/cron"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// CronSender is the sender (and from_client) of every cron firing.
const CronSender = "op-cron"

// cronFireTimeout bounds one firing's publish (store and fan-out); the
// scheduler's other jobs wait for it.
const cronFireTimeout = 5 * time.Second

// cronFire publishes a firing through the client publish path, as a
// message from op-cron in the owner's tenant. A refused firing (strict
// storage down) and any other failure are logged here and counted by the
// scheduler; the job goes on.
func cronFire(p *bus.Publisher, log *slog.Logger) func(cron.Job, int) cron.Result {
	return func(j cron.Job, iteration int) cron.Result {
		meta, _ := json.Marshal(map[string]any{"cron_job_id": j.ID, "iteration": iteration}) // cannot fail
		env := &protocol.Envelope{Type: protocol.TypeMessage, Room: j.Room, Channel: j.Channel,
			Payload: j.Payload, Metadata: meta}
		ctx, cancel := context.WithTimeout(context.Background(), cronFireTimeout)
		defer cancel()
		_, err := p.PublishServer(ctx, bus.Sender{ID: CronSender, Tenant: j.Tenant}, env)
		if err == nil {
			return metrics.CronOK
		}
		attrs := []any{"op", "cron_fire", "job_id", j.ID, "owner", j.Owner, "tenant", j.Tenant,
			"iteration", iteration, "err", err}
		if protocol.AsWire(err).Code == protocol.CodeStorageUnavailable {
			log.Warn("cron firing refused", attrs...)
			return metrics.CronRefused
		}
		log.Error("cron firing failed", attrs...)
		return metrics.CronError
	}
}
