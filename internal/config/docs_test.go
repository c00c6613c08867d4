package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReferenceDocumentsEveryVariable keeps docs/configuration.md and the
// code in step: every variable read is documented once with its flag,
// type and defaults, and every variable documented is read.
func TestReferenceDocumentsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("../../docs/configuration.md")
	require.NoError(t, err)
	doc := string(raw)

	rows := map[string][]string{}
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `ARQONBUS_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		require.Len(t, cells, 5, "row %q", line)
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		require.NotContains(t, rows, name, "%s is documented twice", name)
		rows[name] = cells
	}

	profiles := []string{ProfileDev, ProfileStaging, ProfileProd}
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			cells, ok := rows[s.name]
			require.True(t, ok, "%s has no row in the reference table", s.name)
			assert.Equal(t, "`--"+s.flag()+"`", strings.TrimSpace(cells[1]))
			assert.True(t, strings.HasPrefix(strings.TrimSpace(cells[2]), string(s.kind)), "type %q is not %s", cells[2], s.kind)
			def := strings.TrimSpace(cells[3])
			check := profiles
			if s.name == varEnvironment {
				// Its default is the default profile, dev.
				check = []string{ProfileDev}
			}
			values := map[string]bool{}
			for _, p := range check {
				c := Default(p)
				values[s.get(&c)] = true
			}
			for _, p := range check {
				c := Default(p)
				v := s.get(&c)
				want := "`" + v + "`"
				if v == "" {
					want = "empty"
				}
				if len(values) > 1 {
					want = p + " " + want
				}
				assert.Contains(t, def, want, "default of %s in %s", s.name, p)
			}
		})
	}

	for _, name := range regexp.MustCompile(`ARQONBUS_[A-Z0-9_]*[A-Z0-9]`).FindAllString(doc, -1) {
		if strings.HasPrefix(name+"_", testVarPrefix) || name == "ARQONBUS_NAME" { // reserved prefix; placeholder
			continue
		}
		_, known := settingsByName[name]
		assert.True(t, known || strings.Contains(doc, "`"+name+" ... did you mean"), "%s is documented but not read", name)
	}
}
