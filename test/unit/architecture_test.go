package unit

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/arqonbus/arqonbus/"

// allowedImports lists, for each package of ours, the packages of ours it may
// import (directly or not). Imports point down only: cmd → app →
// {transport, ops} → {command, cron, bus, auth, store, kv, taskq, broker} → protocol, with
// config, metrics, batcher and rediskey as leaves (they import nothing of ours). A
// package missing here may import nothing of ours.
var allowedImports = map[string][]string{
	"cmd/arqonbus":              {"internal/app", "*"},
	"cmd/arqon":                 {"internal/client", "internal/protocol"},
	"cmd/arqonbench":            {"internal/client", "internal/protocol"},
	"internal/app":              {"*"},
	"internal/transport/ws":     {"internal/bus", "internal/command", "internal/cron", "internal/auth", "internal/protocol", "internal/metrics", "internal/kv", "internal/taskq", "internal/store", "internal/broker", "internal/config", "internal/batcher"},
	"internal/ops":              {"internal/command", "internal/cron", "internal/metrics", "internal/kv", "internal/taskq", "internal/store", "internal/bus", "internal/auth", "internal/protocol", "internal/broker", "internal/config", "internal/batcher"},
	"internal/command":          {"internal/bus", "internal/cron", "internal/auth", "internal/kv", "internal/taskq", "internal/store", "internal/protocol", "internal/broker", "internal/metrics", "internal/config", "internal/batcher"},
	"internal/cron":             {"internal/metrics"},
	"internal/bus":              {"internal/broker", "internal/store", "internal/protocol", "internal/metrics", "internal/config", "internal/batcher"},
	"internal/broker":           {"internal/protocol", "internal/metrics", "internal/batcher"},
	"internal/auth":             {"internal/protocol", "internal/config"},
	"internal/store":            {"internal/protocol", "internal/metrics", "internal/config"},
	"internal/store/memstore":   {"internal/store", "internal/protocol", "internal/metrics", "internal/config"},
	"internal/store/redisstore": {"internal/rediskey", "internal/store", "internal/protocol", "internal/metrics", "internal/config", "internal/batcher"},
	"internal/store/storetest":  {"internal/store", "internal/protocol", "internal/metrics", "internal/config"},
	"internal/kv":               {"internal/protocol"},
	"internal/kv/memkv":         {"internal/kv", "internal/protocol"},
	"internal/kv/rediskv":       {"internal/rediskey", "internal/kv", "internal/protocol"},
	"internal/kv/kvtest":        {"internal/kv", "internal/protocol"},
	"internal/taskq":            {"internal/metrics"},
	"internal/taskq/memq":       {"internal/taskq", "internal/metrics"},
	"internal/taskq/redisq":     {"internal/rediskey", "internal/taskq", "internal/metrics"},
	"internal/taskq/taskqtest":  {"internal/taskq", "internal/metrics"},
	"internal/client":           {"internal/protocol"},
	"internal/protocol":         {},
	"internal/config":           {},
	"internal/metrics":          {},
	"internal/batcher":          {},
	"internal/rediskey":         {},
}

func TestImportsPointDownOnly(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", module+"...")
	out, err := cmd.Output()
	require.NoError(t, err, "go list")
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		rel := strings.TrimPrefix(p.ImportPath, module)
		if strings.HasPrefix(rel, "test/") || isTestHelper(rel) {
			continue
		}
		allowed, known := allowedImports[rel]
		require.True(t, known, "package %s is not in the architecture table; add it with its allowed imports", rel)
		seen++
		if len(allowed) > 0 && allowed[len(allowed)-1] == "*" {
			continue
		}
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			d := strings.TrimPrefix(dep, module)
			require.False(t, isTestHelper(d), "%s imports the test helpers (%s)", rel, d)
			ok := false
			for _, a := range allowed {
				if d == a {
					ok = true
				}
			}
			require.True(t, ok, "%s must not import %s (imports point down only; see docs/architecture.md)", rel, d)
		}
	}
	require.Greater(t, seen, 10)
}

// isTestHelper reports whether rel is internal/testutil or one of its
// packages (redistest), which only tests may import.
func isTestHelper(rel string) bool {
	return rel == "internal/testutil" || strings.HasPrefix(rel, "internal/testutil/")
}
