package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// result is one run, written as one JSON line. The embedded parts appear
// only for the workloads that fill them.
type result struct {
	Workload    string  `json:"workload"`
	Target      string  `json:"target"`
	Completed   bool    `json:"completed"`
	Error       string  `json:"error,omitempty"`
	Connections int     `json:"connections"` // opened by the tool
	ConnectS    float64 `json:"connect_s"`   // time to open (and join) them all
	ElapsedS    float64 `json:"elapsed_s"`   // whole run, setup and close included
	FileLimit   uint64  `json:"file_limit"`
	// CPU over the measured window (idle: the connect phase), percent of
	// one core; server_cpu_pct needs --server-pid.
	ToolCPUPct   float64  `json:"tool_cpu_pct"`
	ServerCPUPct *float64 `json:"server_cpu_pct,omitempty"`
	ServerRSSKiB *int64   `json:"server_rss_kib,omitempty"` // at the end of the measurement
	// Every CPU of the machine over the same window: busy percent (any
	// process) and the part of it spent handling interrupts, where
	// loopback TCP delivery runs (the kernel also charges most of that to
	// the process it interrupted).
	CoreBusyPct map[string]float64 `json:"core_busy_pct,omitempty"`
	CoreIRQPct  map[string]float64 `json:"core_irq_pct,omitempty"`
	// Disconnects counts connections the server ended during the run, by
	// role and close code: "sub:4008", "pub:4029", "sub:none".
	Disconnects map[string]int `json:"disconnects,omitempty"`
	Notes       []string       `json:"notes,omitempty"`
	*streamResult
	*idleResult
	*floorResult
	*tasksResult
}

// streamResult holds the fanout and channels numbers. Message counts cover
// the measured window only, except acked.
type streamResult struct {
	Publishers      int     `json:"publishers"`
	Receivers       int     `json:"receivers"`
	Rate            float64 `json:"rate"` // per publisher, msg/s
	DurationS       float64 `json:"duration_s"`
	WarmupS         float64 `json:"warmup_s"`
	PayloadBytes    int     `json:"payload_bytes"`
	Planned         int64   `json:"planned"` // messages all publishers planned
	Sent            int64   `json:"sent"`    // of those, written to the socket
	Acked           int64   `json:"acked"`   // acks received, warm-up included
	AckErrors       int64   `json:"ack_errors"`
	AckDelivered    int64   `json:"ack_delivered"` // sum of the acks' delivered counts
	Expected        int64   `json:"expected"`      // sent × receivers of each
	Received        int64   `json:"received"`
	DeliveredPerS   float64 `json:"delivered_per_s"`
	Loss            int64   `json:"loss"`
	LossReceivers   int     `json:"loss_receivers"`    // receivers missing at least one
	LossMaxReceiver int64   `json:"loss_max_receiver"` // most missed by one receiver
	Duplicates      int64   `json:"duplicates"`
	DupReceivers    int     `json:"duplicate_receivers"`
	OutOfOrder      int64   `json:"out_of_order"`
	OOOReceivers    int     `json:"out_of_order_receivers"`
	OtherFrames     int64   `json:"other_frames"` // frames receivers could not read as bench payloads
	// Latency is from the planned send time to arrival; send_lag_ms is how
	// late the publisher wrote each message (the tool's own delay).
	Latency *latencySummary `json:"latency_ms,omitempty"`
	SendLag *latencySummary `json:"send_lag_ms,omitempty"`
	// Server is what the server's own counters say of the run (given
	// --metrics-url).
	Server *serverCounts `json:"server_counters,omitempty"`
}

// floorResult holds what only the floor workload reports; its latency,
// loss and send lag (the writer's) are in streamResult.
type floorResult struct {
	WriterPID    int      `json:"writer_pid"`
	WriterCPU    int      `json:"writer_cpu"`  // the writer's CPU; -1: not pinned
	FrameBytes   int      `json:"frame_bytes"` // bytes per write, WebSocket header included
	WriteErrors  int64    `json:"write_errors"`
	WriterCPUPct *float64 `json:"writer_cpu_pct,omitempty"` // percent of one core, measured window
	// WriterBurst is how long the writer took to write one frame to every
	// connection: what one core needs to reach them all with one write each.
	WriterBurst *latencySummary `json:"writer_burst_ms,omitempty"`
}

// idleResult holds the idle numbers.
type idleResult struct {
	HoldS             float64  `json:"hold_s"`
	Dropped           int      `json:"dropped"` // connections that ended while held
	RSSBeforeKiB      *int64   `json:"server_rss_before_kib,omitempty"`
	RSSAfterKiB       *int64   `json:"server_rss_after_kib,omitempty"`
	RSSPerConnKiB     *float64 `json:"server_rss_per_conn_kib,omitempty"`
	GoroutinesBefore  *float64 `json:"goroutines_before,omitempty"`
	GoroutinesAfter   *float64 `json:"goroutines_after,omitempty"`
	GoroutinesPerConn *float64 `json:"goroutines_per_conn,omitempty"`
}

func (r *result) note(format string, args ...any) {
	if len(r.Notes) < 10 {
		r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	}
}

func writeJSON(w io.Writer, r *result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeSummary prints the human form of r.
func writeSummary(w io.Writer, r *result) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	status := "completed"
	if !r.Completed {
		status = "NOT completed"
	}
	p("arqonbench %s against %s: %s in %.1f s", r.Workload, r.Target, status, r.ElapsedS)
	if r.Error != "" {
		p("  error: %s", r.Error)
	}
	p("  connections: %d opened in %.2f s (file limit %d)", r.Connections, r.ConnectS, r.FileLimit)
	if s, f := r.streamResult, r.floorResult; f != nil && s != nil {
		cpu := "not pinned"
		if f.WriterCPU >= 0 {
			cpu = fmt.Sprintf("on CPU %d", f.WriterCPU)
		}
		p("  writer (pid %d, %s): %g bursts/s × %g s (+%g s warm-up), each one %d-byte frame (%d-byte payload) per connection",
			f.WriterPID, cpu, s.Rate, s.DurationS, s.WarmupS, f.FrameBytes, s.PayloadBytes)
		p("  sent %d of %d planned bursts; write errors %d", s.Sent, s.Planned, f.WriteErrors)
	} else if s != nil {
		p("  publishing: %d publisher(s) × %g msg/s × %g s (+%g s warm-up), %d-byte payload",
			s.Publishers, s.Rate, s.DurationS, s.WarmupS, s.PayloadBytes)
		p("  sent %d of %d planned; acks %d (errors %d, delivered %d)", s.Sent, s.Planned, s.Acked, s.AckErrors, s.AckDelivered)
	}
	if s := r.streamResult; s != nil {
		p("  received %d of %d expected by %d receivers: %s deliveries/s", s.Received, s.Expected, s.Receivers, thousands(s.DeliveredPerS))
		p("  loss %d (%d receivers, at most %d each), duplicates %d (%d receivers), out of order %d (%d receivers), other frames %d",
			s.Loss, s.LossReceivers, s.LossMaxReceiver, s.Duplicates, s.DupReceivers, s.OutOfOrder, s.OOOReceivers, s.OtherFrames)
		if l := s.Latency; l != nil {
			p("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
		}
		if l := s.SendLag; l != nil {
			p("  send lag ms: p50 %.3f  p99 %.3f  max %.3f", l.P50, l.P99, l.Max)
		}
		if c := s.Server; c != nil {
			p("  server counters (warm-up included): delivered %d, dropped %d%s, slow-consumer disconnects %d",
				c.Delivered, c.Dropped, byReason(c.DroppedByReason), c.SlowConsumerDisconnects)
		}
	}
	if f := r.floorResult; f != nil && f.WriterBurst != nil {
		l := f.WriterBurst
		p("  writer burst ms: p50 %.3f  p99 %.3f  max %.3f  mean %.3f", l.P50, l.P99, l.Max, l.Mean)
	}
	if t := r.tasksResult; t != nil {
		writeTasksSummary(p, t)
	}
	if i := r.idleResult; i != nil {
		p("  held %g s, dropped %d", i.HoldS, i.Dropped)
		if i.RSSBeforeKiB != nil && i.RSSAfterKiB != nil && i.RSSPerConnKiB != nil {
			p("  server RSS %d KiB -> %d KiB: %.1f KiB per connection", *i.RSSBeforeKiB, *i.RSSAfterKiB, *i.RSSPerConnKiB)
		}
		if i.GoroutinesBefore != nil && i.GoroutinesAfter != nil && i.GoroutinesPerConn != nil {
			p("  server goroutines %g -> %g: %.2f per connection", *i.GoroutinesBefore, *i.GoroutinesAfter, *i.GoroutinesPerConn)
		}
	}
	line := fmt.Sprintf("  cpu (%% of one core): tool %.1f", r.ToolCPUPct)
	if r.ServerCPUPct != nil {
		line += fmt.Sprintf(", server %.1f", *r.ServerCPUPct)
	}
	if f := r.floorResult; f != nil && f.WriterCPUPct != nil {
		line += fmt.Sprintf(", writer %.1f", *f.WriterCPUPct)
	}
	if r.ServerRSSKiB != nil {
		line += fmt.Sprintf("; server RSS %d KiB", *r.ServerRSSKiB)
	}
	p("%s", line)
	if len(r.CoreBusyPct) > 0 {
		names := make([]string, 0, len(r.CoreBusyPct))
		for k := range r.CoreBusyPct {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, k := range names {
			parts[i] = fmt.Sprintf("%s %.0f%% busy (%.0f%% irq)", k, r.CoreBusyPct[k], r.CoreIRQPct[k])
		}
		p("  machine: %s", strings.Join(parts, ", "))
	}
	if len(r.Disconnects) > 0 {
		keys := make([]string, 0, len(r.Disconnects))
		for k := range r.Disconnects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s×%d", k, r.Disconnects[k])
		}
		p("  disconnected by the server: %s", strings.Join(parts, ", "))
	}
	for _, n := range r.Notes {
		p("  note: %s", n)
	}
}

// byReason formats counts by reason as " (a 1, b 2)", or "" when empty.
func byReason(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// thousands formats a rate with thousands separators.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
