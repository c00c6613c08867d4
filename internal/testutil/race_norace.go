//go:build !race

package testutil

// raceEnabled reports whether this test binary was built with -race; the
// server binary built for e2e tests then gets -race too.
const raceEnabled = false
