package unit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/app"
)

// The documentation shows commands of both binaries; these tests hold them
// to the binaries' own help, in both directions: a command the docs show is
// one the help lists, and a command the help lists is shown somewhere.

// docsRoot is the module root, from this package's directory.
var docsRoot = filepath.Join("..", "..")

// docOutputs are lines the binaries print that the docs quote in code
// spans; they begin with a binary's name but are not commands.
var docOutputs = []string{"arqonbus listening on"}

// programWord matches a binary as a command line names it: arqon or
// arqonbus, bare or from a bin/ directory (./bin/arqon,
// /usr/local/bin/arqonbus), never a source path such as cmd/arqonbus.
var programWord = regexp.MustCompile(`^(?:\S*bin/)?(arqon|arqonbus)$`)

// subcommandWord is what a subcommand looks like; placeholders (COMMAND,
// <cmd>, [flags]) are not.
var subcommandWord = regexp.MustCompile(`^[a-z][a-z-]*$`)

// helpCLI is one binary as its help describes it.
type helpCLI struct {
	paths      []string        // "tail", "config print", …
	valueFlags map[string]bool // global flags that take a value ("--url")
}

// docCommand is a command shown in the docs.
type docCommand struct {
	program string
	words   []string // after the program
	where   string   // file:line
}

func TestDocsShowOnlySubcommandsTheHelpLists(t *testing.T) {
	clis := helpTexts(t)
	for _, c := range docCommands(t) {
		path, ok := subcommandPath(c, clis[c.program])
		if !ok {
			continue // the bare binary, or a placeholder
		}
		if !slices.Contains(clis[c.program].paths, path) {
			t.Errorf("%s shows `%s %s`, which `%s --help` does not list (it lists: %s)",
				c.where, c.program, path, c.program, strings.Join(clis[c.program].paths, ", "))
		}
	}
}

func TestEverySubcommandTheHelpListsIsShownInTheDocs(t *testing.T) {
	clis := helpTexts(t)
	shown := map[string]bool{}
	for _, c := range docCommands(t) {
		if path, ok := subcommandPath(c, clis[c.program]); ok {
			shown[c.program+" "+path] = true
			shown[c.program+" "+strings.Fields(path)[0]] = true
		}
	}
	for _, program := range []string{"arqon", "arqonbus"} {
		for _, path := range clis[program].paths {
			if !shown[program+" "+path] {
				t.Errorf("`%s --help` lists `%s %s`, but neither README.md nor docs/*.md shows it", program, program, path)
			}
		}
	}
}

// helpTexts runs both binaries' help: arqonbus through app.Run, arqon
// through `go run`, since its run lives in package main.
func helpTexts(t *testing.T) map[string]helpCLI {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Run(context.Background(), app.Env{Args: []string{"--help"}, Stdout: &out, Stderr: &errOut})
	require.Equal(t, 0, code, "arqonbus --help: %s", errOut.String())
	server := helpCLI{}
	for _, line := range strings.Split(out.String(), "\n") {
		// "  arqonbus config print [flags]   show …": the synopsis ends
		// where the description begins, after a run of spaces.
		synopsis, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		fields := strings.Fields(synopsis)
		if len(fields) < 2 || !strings.HasPrefix(line, "  ") || fields[0] != "arqonbus" {
			continue
		}
		path := strings.Trim(fields[1], "[]") // "[serve]": the default subcommand
		if len(fields) > 2 && subcommandWord.MatchString(fields[2]) {
			path += " " + fields[2]
		}
		server.paths = append(server.paths, path)
	}
	require.NotEmpty(t, server.paths, "no subcommand found in arqonbus --help:\n%s", out.String())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "github.com/arqonbus/arqonbus/cmd/arqon", "--help")
	b, err := cmd.Output()
	require.NoError(t, err, "arqon --help")
	cli := helpCLI{valueFlags: map[string]bool{}}
	inCommands := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "commands:":
			inCommands = true
		case strings.TrimSpace(line) == "":
			inCommands = false
		case inCommands:
			cli.paths = append(cli.paths, strings.Fields(line)[0])
		}
		// "  --url URL      …": a flag that takes a value.
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "-") && strings.ToUpper(f[1]) == f[1] {
			cli.valueFlags[f[0]] = true
		}
	}
	require.NotEmpty(t, cli.paths, "no command list in arqon --help:\n%s", b)
	return map[string]helpCLI{"arqon": cli, "arqonbus": server}
}

// subcommandPath is the subcommand a doc command runs ("config print",
// "tail"), or false for the bare binary (arqonbus serves) or a placeholder.
func subcommandPath(c docCommand, cli helpCLI) (string, bool) {
	words := c.words
	for len(words) > 0 && strings.HasPrefix(words[0], "-") {
		if c.program == "arqonbus" {
			return "", false // flags first: serve
		}
		if !strings.Contains(words[0], "=") && cli.valueFlags[words[0]] {
			words = words[1:]
		}
		words = words[1:]
	}
	if len(words) == 0 || !subcommandWord.MatchString(words[0]) {
		return "", false
	}
	if len(words) > 1 && slices.Contains(cli.paths, words[0]+" "+words[1]) {
		return words[0] + " " + words[1], true
	}
	return words[0], true
}

// docCommands finds the commands shown in README.md and docs/*.md: every
// line of a fenced code block that runs a binary (after environment
// assignments; comments dropped, continuation lines joined), and every code
// span that begins with a binary's name.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(docsRoot, "docs", "*.md"))
	require.NoError(t, err)
	files = append([]string{filepath.Join(docsRoot, "README.md")}, files...)
	var out []docCommand
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		name, _ := filepath.Rel(docsRoot, f)
		out = append(out, scanDoc(name, string(b))...)
	}
	require.NotEmpty(t, out, "no command found in the docs")
	return out
}

var codeSpan = regexp.MustCompile("`([^`\n]+)`")

func scanDoc(name, text string) []docCommand {
	var out []docCommand
	lines := strings.Split(text, "\n")
	inFence := false
	for i := 0; i < len(lines); i++ {
		line, at := lines[i], i+1
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
				if c, ok := commandAt(strings.Fields(m[1]), false); ok && !isOutput(m[1]) {
					c.where = name + ":" + strconv.Itoa(at)
					out = append(out, c)
				}
			}
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + lines[i]
		}
		if j := strings.Index(line, " #"); j >= 0 {
			line = line[:j]
		}
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
		if c, ok := commandAt(fields, true); ok {
			c.where = name + ":" + strconv.Itoa(at)
			out = append(out, c)
		}
	}
	return out
}

// commandAt reads a command from fields: the program must come first, or
// in a shell line after NAME=value assignments.
func commandAt(fields []string, shell bool) (docCommand, bool) {
	for i, f := range fields {
		if m := programWord.FindStringSubmatch(f); m != nil {
			return docCommand{program: m[1], words: fields[i+1:]}, true
		}
		if !shell || !strings.Contains(f, "=") {
			break
		}
	}
	return docCommand{}, false
}

func isOutput(span string) bool {
	for _, o := range docOutputs {
		if strings.HasPrefix(span, o) {
			return true
		}
	}
	return false
}

// A self-check of the scanner on the shapes the docs use.
func TestDocScannerFindsTheCommandShapesTheDocsUse(t *testing.T) {
	doc := "Run `arqonbus config print` or `arqonbus listening on X` or `arqonbus`.\n" +
		"```sh\n" +
		"$ ./bin/arqon --url ws://x/ws tail science:explore   # terminal 1\n" +
		"ARQONBUS_ENVIRONMENT=prod \\\n  bin/arqonbus preflight\n" +
		"go build ./cmd/arqonbus\n" +
		"cmd/arqonbus ─► internal/app\n" +
		"```\n"
	var got []string
	for _, c := range scanDoc("x.md", doc) {
		got = append(got, strings.TrimSpace(c.where+" "+c.program+" "+strings.Join(c.words, " ")))
	}
	require.Equal(t, []string{
		"x.md:1 arqonbus config print",
		"x.md:1 arqonbus",
		"x.md:3 arqon --url ws://x/ws tail science:explore",
		"x.md:4 arqonbus preflight",
	}, got)
	arqon := helpCLI{paths: []string{"tail"}, valueFlags: map[string]bool{"--url": true}}
	path, ok := subcommandPath(docCommand{program: "arqon", words: []string{"--url", "ws://x/ws", "tail", "a:b"}}, arqon)
	require.True(t, ok)
	require.Equal(t, "tail", path, "a flag's value is not the subcommand")
	server := helpCLI{paths: []string{"config print", "token", "token check"}}
	for words, want := range map[string]string{"config print": "config print", "config": "config",
		"token check <jwt>": "token check", "token --sub alice": "token"} {
		path, ok := subcommandPath(docCommand{program: "arqonbus", words: strings.Fields(words)}, server)
		require.True(t, ok)
		require.Equal(t, want, path, words)
	}
	_, ok = subcommandPath(docCommand{program: "arqonbus", words: []string{"--server-port", "9100"}}, server)
	require.False(t, ok, "flags first mean serve")
}
