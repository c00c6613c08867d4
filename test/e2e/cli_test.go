//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestVersionPrintsTheBuildVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := testutil.RunBinaryExit(t, nil, "version")
	assert.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.True(t, strings.HasPrefix(stdout, "arqonbus "+testutil.BinaryVersion+" "), "stdout: %q", stdout)
	assert.Contains(t, stdout, "commit "+testutil.BinaryCommit)
	assert.Contains(t, stdout, "protocol 1.0")
}

func TestSubcommandMistakesExitWithStatus2AndUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown subcommand", []string{"launch"}, `unknown command "launch"`},
		{"config without print", []string{"config"}, "usage: arqonbus config print"},
		{"a stray argument to serve", []string{"serve", "extra"}, "unexpected arguments"},
		{"an unknown flag", []string{"serve", "--no-such-flag"}, "no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := testutil.RunBinaryExit(t, devEnv(), tc.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.want)
			assert.NotContains(t, stdout, "listening")
		})
	}
}

func TestAHelpRequestPrintsHelpAndExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"serve", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, _ := testutil.RunBinaryExit(t, nil, args...)
			assert.Equal(t, 0, code, "a help request is not a configuration problem")
			assert.True(t, strings.Contains(stdout, "usage:") || strings.Contains(stdout, "--server-port (ARQONBUS_SERVER_PORT"),
				"help on stdout")
		})
	}
}
