package unit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

// labelledCounters names, for each labelled counter of metrics.Metrics, its
// family and its labels in the order WithLabelValues takes them.
var labelledCounters = map[string]struct {
	family string
	labels []string
}{
	"ConnectionsRejected": {"arqonbus_connections_rejected_total", []string{"reason"}},
	"MessagesReceived":    {"arqonbus_messages_received_total", []string{"type"}},
	"MessagesDropped":     {"arqonbus_messages_dropped_total", []string{"reason"}},
	"Commands":            {"arqonbus_commands_total", []string{"command", "status"}},
	"Errors":              {"arqonbus_errors_total", []string{"code"}},
	"StorageOperations":   {"arqonbus_storage_operations_total", []string{"op", "result"}},
	"AuthFailures":        {"arqonbus_auth_failures_total", []string{"reason"}},
	"Failures":            {"arqonbus_failures_total", []string{"op"}},
	"KVOperations":        {"arqonbus_kv_operations_total", []string{"op", "result"}},
	"CronFirings":         {"arqonbus_cron_firings_total", []string{"result"}},
	"CronCancellations":   {"arqonbus_cron_cancellations_total", []string{"reason"}},
	"TasksCompleted":      {"arqonbus_tasks_completed_total", []string{"status"}},
	"TaskQueueFailures":   {"arqonbus_task_queue_failures_total", []string{"op"}},
	"HistoryEvicted":      {"arqonbus_history_evicted_total", []string{"reason"}},
}

// funnels are functions whose argument becomes a label value further down:
// in the package dir, a call of name passes argument arg to the field.
var funnels = []struct {
	dir, name string
	arg       int
	field     string
}{
	{"", "Fail", 0, "Failures"}, // (*metrics.Metrics).Fail, anywhere
	{"internal/transport/ws", "refuse", 4, "ConnectionsRejected"},
	{"internal/broker", "fail", 0, "Failures"}, // reaches Metrics.Fail
	{"internal/broker", "call", 1, "Failures"},
}

// computedSites are the call sites whose label values are computed rather
// than written out, each with what makes its values part of the set a
// fresh node starts with. A new computed site fails the test until it is
// added here with its reason (and its values to the started set).
var computedSites = map[string]string{
	"internal/command/command.go: r.deps.Metrics.Commands.WithLabelValues(name, status)":                               "the command table, unknown and prototype × success and every error code (app.knownLabels); TestRegression_NoLabelledSeriesAppearsAfterStart drives them",
	"internal/store/policy.go: p.m.StorageOperations.WithLabelValues(opNames[op], resultNames[res])":                   "the policy starts its op × result series itself, at construction",
	"internal/transport/ws/server.go: s.o.Metrics.AuthFailures.WithLabelValues(reason)":                                "auth.Label answers one of auth.Labels() (app.knownLabels)",
	"internal/transport/ws/server.go: s.o.Metrics.ConnectionsRejected.WithLabelValues(reason)":                         "refuse's callers are checked as a funnel",
	"internal/transport/ws/handle.go: m.MessagesReceived.WithLabelValues(env.Type)":                                    "the types protocol.Decode lets through (app.knownLabels)",
	`internal/transport/ws/handle.go: c.srv.o.Metrics.MessagesDropped.WithLabelValues("telemetry_" + string(we.Code))`: "metrics.DropTelemetry of every protocol code",
	"internal/transport/ws/handle.go: c.srv.o.Metrics.Errors.WithLabelValues(env.ErrorCode)":                           "error replies carry a protocol code",
	"internal/broker/redis.go: r.fail(op, err)":                                                                        "inside call, whose callers are checked as a funnel",
	"internal/cron/cron.go: s.o.Metrics.CronFirings.WithLabelValues(string(r))":                                        "Fire answers a metrics.CronResult; metrics starts every one of metrics.CronResults",
	"internal/cron/cron.go: s.o.Metrics.CronCancellations.WithLabelValues(string(reason))":                             "every reason is a metrics.CronReason; metrics starts every one of metrics.CronReasons",
	"internal/command/kv.go: r.deps.Metrics.KVOperations.WithLabelValues(string(op), string(result))":                  "every op and result is a metrics.KVOp and KVResult; metrics starts every pair of metrics.KVOps x KVResults",
	"internal/taskq/dispatcher.go: d.o.Metrics.TaskQueueFailures.WithLabelValues(string(op))":                          "every op is a metrics.TaskOp; metrics starts every one of metrics.TaskOps",
	"internal/taskq/dispatcher.go: d.o.Metrics.TasksCompleted.WithLabelValues(string(status))":                         "status is a metrics.TaskStatus (done or failed); metrics starts every one of metrics.TaskStatuses",
	"internal/broker/redis.go: r.m.Fail(op)":                                                                           "inside fail, whose callers are checked as a funnel",
}

// startedSeries returns, per family, the label sets a fresh node exposes.
func startedSeries(t *testing.T, reg *prometheus.Registry) map[string][]map[string]string {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string][]map[string]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[f.GetName()] = append(out[f.GetName()], labels)
		}
	}
	return out
}

// metricsConstants reads the string constants of internal/metrics.
func metricsConstants(t *testing.T, root string) map[string]string {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), filepath.Join(root, "internal/metrics"), nil, 0)
	require.NoError(t, err)
	consts := map[string]string{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
	}
	require.NotEmpty(t, consts)
	return consts
}

// TestEveryLabelValueTheCodeCountsUnderIsStartedAtZero reads every call that
// labels a counter and checks that a fresh node already exposes that series:
// a series that first appears after start is a gap in a dashboard and an
// alert that said "no data" until then.
func TestEveryLabelValueTheCodeCountsUnderIsStartedAtZero(t *testing.T) {
	for _, f := range reflect.VisibleFields(reflect.TypeFor[metrics.Metrics]()) {
		if f.Type == reflect.TypeFor[*prometheus.CounterVec]() {
			_, ok := labelledCounters[f.Name]
			assert.True(t, ok, "metrics.Metrics.%s is a labelled counter missing from labelledCounters", f.Name)
		}
	}
	started := startedSeries(t, testutil.StartServer(t).Registry)
	root := "../.."
	consts := metricsConstants(t, root)
	resolve := func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				v, err := strconv.Unquote(e.Value)
				return v, err == nil
			}
		case *ast.SelectorExpr:
			if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "metrics" {
				v, ok := consts[e.Sel.Name]
				return v, ok
			}
		}
		return "", false
	}
	seenComputed := map[string]bool{}
	checked := 0
	check := func(site, field string, args []ast.Expr) {
		c := labelledCounters[field]
		want := map[string]string{}
		for i, a := range args {
			v, ok := resolve(a)
			if !ok {
				_, known := computedSites[site]
				assert.True(t, known, "%s: label values are computed; add the site to computedSites with why its values are started", site)
				seenComputed[site] = known
				return
			}
			want[c.labels[i]] = v
		}
		checked++
		has := slices.ContainsFunc(started[c.family], func(l map[string]string) bool { return maps.Equal(l, want) })
		assert.True(t, has, "%s: %s%v has no series on a fresh node", site, c.family, want)
	}

	fset := token.NewFileSet()
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			pkgDir := filepath.ToSlash(filepath.Dir(rel))
			if pkgDir == "internal/metrics" || pkgDir == "internal/testutil" {
				return nil // the definitions, not the uses
			}
			file, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				site := rel + ": " + types.ExprString(call)
				if sel.Sel.Name == "WithLabelValues" {
					var field string
					switch x := sel.X.(type) {
					case *ast.SelectorExpr:
						field = x.Sel.Name
					case *ast.Ident:
						field = x.Name
					}
					if _, ok := labelledCounters[field]; ok {
						check(site, field, call.Args)
					}
					return true
				}
				for _, fn := range funnels {
					if sel.Sel.Name == fn.name && (fn.dir == "" || fn.dir == pkgDir) && len(call.Args) > fn.arg {
						check(site, fn.field, call.Args[fn.arg:fn.arg+1])
					}
				}
				return true
			})
			return nil
		})
		require.NoError(t, err)
	}
	assert.Greater(t, checked, 15, "the scan found the call sites with written-out label values")
	for site := range computedSites {
		assert.True(t, seenComputed[site], "computedSites lists %s, which is no longer in the code", site)
	}
}

// TestEveryLabelledCounterStartsWithASeriesAtZero covers the families as a
// whole, with persistence on and off: each has series before anything
// happened, at 0 (the storage policy's first ping may already count one).
func TestEveryLabelledCounterStartsWithASeriesAtZero(t *testing.T) {
	for _, persist := range []bool{true, false} {
		s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Config) { c.EnablePersistence = persist }))
		families, err := s.Registry.Gather()
		require.NoError(t, err)
		zeros := map[string]int{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if m.GetCounter() != nil && m.GetCounter().GetValue() == 0 {
					zeros[f.GetName()]++
				}
			}
		}
		for field, c := range labelledCounters {
			if c.family == "arqonbus_storage_operations_total" && !persist {
				continue // no store, no storage operations (the policy starts them)
			}
			assert.Positive(t, zeros[c.family], "persistence %v: %s (%s) has no series at 0 on a fresh node", persist, c.family, field)
		}
	}
}
