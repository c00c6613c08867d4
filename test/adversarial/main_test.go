// Package adversarial attacks a real in-process server with hostile clients:
// malformed and oversized frames, floods, slow consumers, slowloris
// handshakes and idle sockets, plus property tests of the codec and of the
// hub. Every attack checks three things: the documented answer (an error
// code or a close code, SPEC §1–§4), that a bystander keeps working, and,
// for the heavy attacks, that goroutines and heap return to where they were.
//
// The tests do not run in parallel: the goroutine and heap baselines are
// process-wide.
package adversarial

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A failing property prints its seed (-rapid.seed) to reproduce it; fail
	// files under testdata/ are written only when asked for.
	flag.Parse()
	asked := os.Getenv("RAPID_NOFAILFILE") != ""
	flag.Visit(func(f *flag.Flag) { asked = asked || f.Name == "rapid.nofailfile" })
	if !asked {
		_ = flag.Set("rapid.nofailfile", "true")
	}
	goleak.VerifyTestMain(m)
}
