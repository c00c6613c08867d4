// Package metrics holds ArqonBus's Prometheus collectors. Everything is
// registered on a registry the caller injects, so tests and several servers in
// one process never share state. All metric names start with "arqonbus_".
//
// Every labelled counter starts with a series at 0 for each label value the
// code can count under (see Labels), so a fresh node answers its alerts with
// 0, not "no data". The gauges of counts other components keep (rooms,
// channels, stored history) are read at scrape time through SetCounts.
//
// Concurrency: every collector and method is safe for concurrent use.
package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of collectors named in the metrics reference
// (docs/runbook.md, SPEC §8). Fields are safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	ConnectionsActive       prometheus.Gauge
	ConnectionsTotal        prometheus.Counter
	ConnectionsRejected     *prometheus.CounterVec // reason
	MessagesReceived        *prometheus.CounterVec // type
	MessagesDelivered       prometheus.Counter
	MessagesDropped         *prometheus.CounterVec // reason
	Commands                *prometheus.CounterVec // command, status
	Errors                  *prometheus.CounterVec // code
	SlowConsumerDisconnects prometheus.Counter
	StorageOperations       *prometheus.CounterVec // op, result
	StorageDegraded         prometheus.Gauge
	StorageFallbackWrites   prometheus.Counter
	StorageDecodeFailures   prometheus.Counter
	AuthFailures            *prometheus.CounterVec // reason
	Failures                *prometheus.CounterVec // op: recovered internal failures
	PublishDuration         prometheus.Histogram
	BuildInfo               *prometheus.GaugeVec // version, commit, go
	// KVOperations counts key-value store operations by op and result;
	// its labels are typed so that only the values New starts are used.
	KVOperations *prometheus.CounterVec
	// CronJobs, CronFirings (result) and CronCancellations (reason) are
	// the cron lane's; their labels are the CronResult and CronReason values.
	CronJobs          prometheus.Gauge
	CronFirings       *prometheus.CounterVec // result
	CronCancellations *prometheus.CounterVec // reason
	// The work queue's (op.task.*, SPEC §11.1): TaskWorkers counts the
	// (connection, group) registrations on this node; TasksCompleted's
	// status is a TaskStatus; TaskOperations counts the queue backend's
	// failures by TaskOp (each also logged).
	TasksSubmitted     prometheus.Counter
	TasksDelivered     prometheus.Counter
	TasksCompleted     *prometheus.CounterVec // status
	TasksRedelivered   prometheus.Counter
	TasksDead          prometheus.Counter
	TaskDecodeFailures prometheus.Counter
	TaskWorkers        prometheus.Gauge
	TaskQueueFailures  *prometheus.CounterVec // op

	HistoryEvicted      *prometheus.CounterVec // reason
	HistoryReadsRefused prometheus.Counter

	counts atomic.Pointer[Counts]
}

// Counts are the readings behind the gauges rooms, channels,
// memory_history_streams and memory_history_messages. Each is called at
// every scrape, concurrently with the node's work, so it must be cheap
// (counters the component keeps, never a walk of its maps or a network
// call). A nil function reads 0.
type Counts struct {
	Rooms           func() int   // distinct (tenant, room) with at least one member
	Channels        func() int   // live (tenant, room, channel) pairs
	HistoryStreams  func() int64 // history streams the memory store holds
	HistoryMessages func() int64 // messages the memory store holds
	HistoryBytes    func() int64 // bytes (store.Size) of the messages the memory store holds
}

// New creates every collector and registers it on reg. A nil reg gets a
// fresh registry. The Go runtime and process collectors are registered too.
// The label values this package owns start at 0; NewWithLabels adds those
// of other packages.
func New(reg *prometheus.Registry) *Metrics { return NewWithLabels(reg, Labels{}) }

// NewWithLabels is New with every value of l started at 0 as well: the node
// passes the sets whose owners this package may not import.
func NewWithLabels(reg *prometheus.Registry, l Labels) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := factory{reg}
	m := &Metrics{
		Registry:                reg,
		ConnectionsActive:       f.gauge("connections_active", "Open WebSocket connections."),
		ConnectionsTotal:        f.counter("connections_total", "WebSocket connections accepted since start."),
		ConnectionsRejected:     f.counterVec("connections_rejected_total", "Handshakes refused, by reason.", "reason"),
		MessagesReceived:        f.counterVec("messages_received_total", "Frames received from clients, by envelope type.", "type"),
		MessagesDelivered:       f.counter("messages_delivered_total", "Frames enqueued to subscribers by fan-out."),
		MessagesDropped:         f.counterVec("messages_dropped_total", "Frames not delivered, by reason.", "reason"),
		Commands:                f.counterVec("commands_total", "Commands handled, by command and status.", "command", "status"),
		Errors:                  f.counterVec("errors_total", "Error envelopes sent to clients, by code.", "code"),
		SlowConsumerDisconnects: f.counter("slow_consumer_disconnects_total", "Clients closed with 4008 because their send queue overflowed."),
		StorageOperations:       f.counterVec("storage_operations_total", "Storage operations, by operation and result.", "op", "result"),
		StorageDegraded:         f.gauge("storage_degraded", "1 while storage runs on the memory fallback (degraded mode), else 0."),
		StorageFallbackWrites:   f.counter("storage_fallback_writes_total", "Writes that went to the memory fallback because the backend failed."),
		StorageDecodeFailures:   f.counter("storage_decode_failures_total", "Stored entries with a field that could not be decoded."),
		AuthFailures:            f.counterVec("auth_failures_total", "Handshake authentication failures, by reason.", "reason"),
		Failures:                f.counterVec("failures_total", "Recovered internal failures (each also logged), by operation.", "op"),
		PublishDuration: f.histogram("publish_duration_seconds",
			"Time from a message's decode to its acknowledgement (store + fan-out).",
			[]float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}),
		BuildInfo: f.gaugeVec("build_info", "Build information; the value is always 1.", "version", "commit", "go"),
		KVOperations: f.counterVec("kv_operations_total",
			"Key-value store operations (op.store.*) that reached the store, by operation and result.", "op", "result"),
		CronJobs:    f.gauge("cron_jobs", "Cron jobs scheduled on this node (op.cron.schedule)."),
		CronFirings: f.counterVec("cron_firings_total", "Cron firings, by result (refused: strict storage refused the message).", "result"),
		CronCancellations: f.counterVec("cron_cancellations_total",
			"Cron jobs ended, by reason (each also logged).", "reason"),
		TasksSubmitted:   f.counter("tasks_submitted_total", "Work-queue tasks stored by op.task.submit or truth.verify on this node."),
		TasksDelivered:   f.counter("tasks_delivered_total", "Work-queue deliveries to this node's workers (first deliveries and redeliveries)."),
		TasksCompleted:   f.counterVec("tasks_completed_total", "Work-queue tasks finished by this node's workers, by status (done or failed).", "status"),
		TasksRedelivered: f.counter("tasks_redelivered_total", "Work-queue deliveries with attempt > 1 (the task's earlier delivery expired or its worker left)."),
		TasksDead:        f.counter("tasks_dead_total", "Work-queue tasks moved to the dead-letter list by this node (attempts exhausted, or an entry that does not decode)."),
		TaskDecodeFailures: f.counter("task_decode_failures_total",
			"Work-queue stream entries that could not be decoded (each logged with stream and entry id, and dead-lettered)."),
		TaskWorkers: f.gauge("task_workers", "Work-queue workers on this node (one per connection and group joined)."),
		TaskQueueFailures: f.counterVec("task_queue_failures_total",
			"Work-queue backend calls that failed, by operation (each also logged).", "op"),
		HistoryEvicted: f.counterVec("history_evicted_total",
			"Messages the memory store let go before their ring was full, by reason (tenant_share, node_budget, idle).", "reason"),
		HistoryReadsRefused: f.counter("history_reads_refused_total",
			"history commands refused with RATE_LIMIT_EXCEEDED because the tenant had ARQONBUS_HISTORY_READS_PER_TENANT reads in flight on this node."),
	}
	f.gaugeFunc("rooms", "Distinct (tenant, room) pairs with at least one member on this node (as /status rooms).",
		func(c *Counts) float64 { return readInt(c.Rooms) }, &m.counts)
	f.gaugeFunc("channels", "Live (tenant, room, channel) pairs with at least one member on this node (as /status channels).",
		func(c *Counts) float64 { return readInt(c.Channels) }, &m.counts)
	f.gaugeFunc("memory_history_streams",
		"History streams (tenant, room, channel) held in this node's memory store: the memory backend, or with Redis the degraded-mode fallback.",
		func(c *Counts) float64 { return readInt64(c.HistoryStreams) }, &m.counts)
	f.gaugeFunc("memory_history_messages",
		"Messages held in this node's memory store: the memory backend, or with Redis the degraded-mode fallback (lost on restart).",
		func(c *Counts) float64 { return readInt64(c.HistoryMessages) }, &m.counts)
	f.gaugeFunc("history_bytes",
		"Bytes of history held in this node's memory store, as ARQONBUS_HISTORY_MAX_BYTES counts them (/status history_bytes).",
		func(c *Counts) float64 { return readInt64(c.HistoryBytes) }, &m.counts)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.start(l)
	return m
}

// SetCounts connects the count gauges to the components that keep the
// counts; until it is called they read 0.
func (m *Metrics) SetCounts(c Counts) { m.counts.Store(&c) }

func readInt(f func() int) float64 {
	if f == nil {
		return 0
	}
	return float64(f())
}

func readInt64(f func() int64) float64 {
	if f == nil {
		return 0
	}
	return float64(f())
}

// Fail counts a recovered internal failure of operation op.
func (m *Metrics) Fail(op string) { m.Failures.WithLabelValues(op).Inc() }

type factory struct{ reg prometheus.Registerer }

const namespace = "arqonbus"

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

// gaugeFunc registers a gauge that reads one of the counts at scrape time.
func (f factory) gaugeFunc(name, help string, read func(*Counts) float64, counts *atomic.Pointer[Counts]) {
	f.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help},
		func() float64 {
			c := counts.Load()
			if c == nil {
				return 0
			}
			return read(c)
		}))
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}
