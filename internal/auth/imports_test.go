package auth

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPackageImportsOnlyItsAllowedDependencies keeps auth a leaf: the
// standard library, golang-jwt, our protocol package and config (for the
// names of the variables its messages tell an operator to set), nothing
// else.
func TestPackageImportsOnlyItsAllowedDependencies(t *testing.T) {
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			allowed := !strings.Contains(first, ".") ||
				path == "github.com/golang-jwt/jwt/v5" ||
				path == "github.com/arqonbus/arqonbus/internal/protocol" ||
				path == "github.com/arqonbus/arqonbus/internal/config"
			assert.True(t, allowed, "%s imports %s", name, path)
		}
	}
}
