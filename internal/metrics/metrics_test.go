package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// seriesCount is how many series of the family name reg exposes.
func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, "arqonbus_"+name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewStartsTheLabelValuesThisPackageOwns(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	for name, want := range map[string]int{
		"messages_dropped_total":     len(DropReasons),
		"connections_rejected_total": len(RejectReasons),
		"failures_total":             len(FailureOps),
		"messages_received_total":    1, // invalid
		"errors_total":               0, // the codes are protocol's: NewWithLabels
	} {
		if got := seriesCount(t, reg, name); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
}

func TestNewWithLabelsStartsEveryGivenValueAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewWithLabels(reg, Labels{
		ErrorCodes:   []string{"A", "B"},
		MessageTypes: []string{"message", "command"},
		Commands:     []string{"ping", "unknown"},
		Success:      "success",
		AuthReasons:  []string{"expired"},
	})
	for name, want := range map[string]int{
		"errors_total":            2,
		"messages_dropped_total":  len(DropReasons) + 2, // telemetry_A, telemetry_B
		"messages_received_total": 3,
		"commands_total":          2 * 3, // × success, A, B
		"auth_failures_total":     1,
	} {
		if got := seriesCount(t, reg, name); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
	if v := testutil.ToFloat64(m.Commands.WithLabelValues("unknown", "B")); v != 0 {
		t.Errorf("a started series reads %v, want 0", v)
	}
	if v := testutil.ToFloat64(m.MessagesDropped.WithLabelValues(DropTelemetry("A"))); v != 0 || DropTelemetry("A") != "telemetry_A" {
		t.Errorf("telemetry drop reason %q reads %v", DropTelemetry("A"), v)
	}
}

// gauge reads the unlabelled gauge arqonbus_<name> from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "arqonbus_"+name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("arqonbus_%s is not registered", name)
	return 0
}

func TestCountGaugesReadZeroUntilConnectedThenTheirSources(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	names := []string{"rooms", "channels", "memory_history_streams", "memory_history_messages"}
	want := func(step string, values ...float64) {
		t.Helper()
		for i, name := range names {
			if got := gauge(t, reg, name); got != values[i] {
				t.Errorf("%s: %s = %v, want %v", step, name, got, values[i])
			}
		}
	}
	want("before SetCounts", 0, 0, 0, 0)
	m.SetCounts(Counts{Rooms: func() int { return 2 }, Channels: func() int { return 5 }})
	want("history not connected", 2, 5, 0, 0)
	m.SetCounts(Counts{
		Rooms: func() int { return 1 }, Channels: func() int { return 1 },
		HistoryStreams: func() int64 { return 3 }, HistoryMessages: func() int64 { return 40 },
	})
	want("all connected", 1, 1, 3, 40)
}
