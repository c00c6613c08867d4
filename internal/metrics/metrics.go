// Package metrics holds ArqonBus's Prometheus collectors. Everything is
// registered on a registry the caller injects, so tests and several servers in
// one process never share state. All metric names start with "arqonbus_".
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of collectors named in the metrics reference
// (docs/configuration.md, SPEC §8). Fields are safe for concurrent use.
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
}

// New creates every collector and registers it on reg. A nil reg gets a
// fresh registry. The Go runtime and process collectors are registered too.
func New(reg *prometheus.Registry) *Metrics {
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
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
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

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}
