package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/cron"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Bounds of the op.cron.* arguments.
const (
	defaultCronDelay  = 1.0    // seconds before the first firing
	minCronDelay      = 0.1    // seconds
	maxCronDelay      = 604800 // seconds (one week)
	maxCronInterval   = 604800 // seconds (one week)
	defaultCronRepeat = 1      // firings
	maxCronRepeat     = 100000 // firings
)

var argJobID = Arg{Name: "job_id", Type: ArgString, Required: true, Description: "the id op.cron.schedule answered"}

func (r *Registry) cronCommands() []*Command {
	return []*Command{
		{Name: "op.cron.schedule", Summary: "publish a payload to a room and channel of your tenant later, once or repeatedly", Role: auth.RoleUser,
			Args: []Arg{argRoom, argChannel,
				{Name: "payload", Type: ArgAny, Required: true, Description: "a JSON object, published as each firing's payload"},
				{Name: "delay_seconds", Type: ArgNumber, Description: fmt.Sprintf("seconds before the first firing, %g-%d, default %g", minCronDelay, maxCronDelay, defaultCronDelay)},
				{Name: "interval_seconds", Type: ArgNumber, Description: fmt.Sprintf("seconds between firings, from the first; at least %s, at most %d; required when repeat_count > 1", config.VarCronMinInterval, maxCronInterval)},
				{Name: "repeat_count", Type: ArgInteger, Description: fmt.Sprintf("firings in all, 1-%d, default %d", maxCronRepeat, defaultCronRepeat)}},
			Handler: r.cronSchedule},
		{Name: "op.cron.cancel", Summary: "cancel one of your cron jobs (an admin: any of the tenant's)", Role: auth.RoleUser,
			Args: []Arg{argJobID}, Handler: r.cronCancel},
		{Name: "op.cron.list", Summary: "your cron jobs (an admin: the tenant's)", Role: auth.RoleUser,
			Handler: r.cronList},
	}
}

func (r *Registry) cronScheduler() (*cron.Scheduler, error) {
	if r.deps.Cron == nil {
		return nil, protocol.NewError(protocol.CodeFeatureDisabled, "the cron lane is not configured on this node")
	}
	return r.deps.Cron, nil
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

func (r *Registry) cronSchedule(_ context.Context, req *Request) (string, any, error) {
	var problems []string
	t, err := req.topic()
	if err != nil {
		var we *protocol.Error
		if !errors.As(err, &we) {
			return "", nil, err
		}
		problems = append(problems, we.Problems...)
	}
	payload := req.args["payload"]
	if len(payload) == 0 || payload[0] != '{' {
		problems = append(problems, "args.payload must be a JSON object")
	}
	delay := req.Float("delay_seconds", defaultCronDelay)
	if delay < minCronDelay || delay > maxCronDelay {
		problems = append(problems, fmt.Sprintf("args.delay_seconds must be %g-%d", minCronDelay, maxCronDelay))
	}
	repeat := req.Int("repeat_count", defaultCronRepeat)
	if repeat < 1 || repeat > maxCronRepeat {
		problems = append(problems, fmt.Sprintf("args.repeat_count must be 1-%d", maxCronRepeat))
	}
	interval := req.Float("interval_seconds", 0)
	minInterval := r.deps.CronMinInterval
	switch {
	case !req.Has("interval_seconds"):
		if repeat > 1 {
			problems = append(problems, "args.interval_seconds is required when repeat_count > 1")
		}
	case interval < minInterval.Seconds() || interval > maxCronInterval:
		problems = append(problems, fmt.Sprintf("args.interval_seconds must be %g-%d (%s is %s)",
			minInterval.Seconds(), maxCronInterval, config.VarCronMinInterval, minInterval))
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	s, err := r.cronScheduler()
	if err != nil {
		return "", nil, err
	}
	j, err := s.Schedule(cron.Spec{Owner: req.Caller.ClientID, Tenant: req.Caller.Tenant, Room: t.Room, Channel: t.Channel,
		Payload: payload, Delay: seconds(delay), Interval: seconds(interval), Repeat: int(repeat)})
	if err != nil {
		return "", nil, r.cronError(err)
	}
	return "scheduled " + j.ID, cronView(j, false), nil
}

func (r *Registry) cronError(err error) error {
	perClient, perNode := r.deps.Cron.Limits()
	switch {
	case errors.Is(err, cron.ErrClientLimit):
		return protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"this connection has %d cron jobs, the most %s allows", perClient, config.VarCronMaxJobsPerClient))
	case errors.Is(err, cron.ErrNodeLimit):
		return protocol.NewError(protocol.CodeLimitExceeded, fmt.Sprintf(
			"this node has %d cron jobs, the most %s allows", perNode, config.VarCronMaxJobs))
	case errors.Is(err, cron.ErrClosed):
		return protocol.NewError(protocol.CodeFeatureDisabled, "the node is shutting down; no new cron jobs")
	case errors.Is(err, cron.ErrNotFound):
		return protocol.NewError(protocol.CodeNotFound, "no such cron job")
	}
	return err
}

func cronView(j cron.Job, withOwner bool) map[string]any {
	v := map[string]any{
		"job_id": j.ID, "room": j.Room, "channel": j.Channel,
		"delay_seconds": j.Delay.Seconds(), "interval_seconds": j.Interval.Seconds(),
		"repeat_count": j.Repeat, "created_at": protocol.FormatTimestamp(j.CreatedAt),
	}
	if withOwner {
		v["owner"] = j.Owner
		v["fired"] = j.Fired
	}
	return v
}

func (r *Registry) cronCancel(_ context.Context, req *Request) (string, any, error) {
	s, err := r.cronScheduler()
	if err != nil {
		return "", nil, err
	}
	id := req.String("job_id")
	j, ok := s.Get(id)
	if !ok || j.Tenant != req.Caller.Tenant {
		return "", nil, protocol.NewError(protocol.CodeNotFound, fmt.Sprintf("no cron job %q in your tenant", protocol.Clip(id)))
	}
	reason := metrics.CronOwnerCancel
	if j.Owner != req.Caller.ClientID {
		if req.Caller.Role < auth.RoleAdmin {
			return "", nil, protocol.NewError(protocol.CodeAuthorization, "only the job's owner or an admin of its tenant may cancel it")
		}
		reason = metrics.CronAdminCancel
	}
	if err := s.Cancel(id, reason); err != nil {
		return "", nil, r.cronError(err)
	}
	return "cancelled " + id, map[string]any{"job_id": id, "cancelled": true}, nil
}

func (r *Registry) cronList(_ context.Context, req *Request) (string, any, error) {
	s, err := r.cronScheduler()
	if err != nil {
		return "", nil, err
	}
	c := req.Caller
	admin := c.Role >= auth.RoleAdmin
	jobs := s.List(func(j *cron.Job) bool {
		return j.Tenant == c.Tenant && (admin || j.Owner == c.ClientID)
	})
	out := make([]map[string]any, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, cronView(j, true))
	}
	return fmt.Sprintf("%d jobs", len(out)), map[string]any{"count": len(out), "jobs": out}, nil
}

// Float returns a number argument, or def when absent.
func (r *Request) Float(name string, def float64) float64 {
	raw, ok := r.args[name]
	if !ok {
		return def
	}
	var f float64
	_ = json.Unmarshal(raw, &f) // type checked in parseArgs
	return f
}
