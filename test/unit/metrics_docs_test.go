package unit

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

// runbookReference returns the metric names of the runbook's metrics
// reference table, without the arqonbus_ prefix.
func runbookReference(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/runbook.md")
	require.NoError(t, err)
	doc := string(raw)
	start := strings.Index(doc, "## Metrics reference")
	require.GreaterOrEqual(t, start, 0, "docs/runbook.md has a Metrics reference section")
	section := doc[start+len("## Metrics reference"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
	}
	require.NotEmpty(t, names, "the reference table lists metrics")
	return names
}

// TestTheRunbookReferencesEveryMetricAndNoOther keeps the runbook's metrics
// reference and the registered collectors in step, both ways.
func TestTheRunbookReferencesEveryMetricAndNoOther(t *testing.T) {
	s := testutil.StartServer(t)
	families, err := s.Registry.Gather()
	require.NoError(t, err)
	var exposed []string
	for _, f := range families {
		if name, ok := strings.CutPrefix(f.GetName(), "arqonbus_"); ok {
			exposed = append(exposed, name)
		}
	}
	documented := runbookReference(t)
	for _, name := range exposed {
		assert.Contains(t, documented, name, "arqonbus_%s is exposed but not in docs/runbook.md's metrics reference", name)
	}
	for _, name := range documented {
		assert.True(t, slices.Contains(exposed, name), "docs/runbook.md documents arqonbus_%s, which no node exposes", name)
	}
}
