package taskq

import (
	"testing"
	"time"
)

// Settle wakes d's loop and waits until a pass that began after the call
// has finished: whatever the test did before is then seen by the loop.
// The loop must be running.
func Settle(tb testing.TB, d *Dispatcher) {
	tb.Helper()
	want := d.passStarted.Load() + 1
	d.poke()
	deadline := time.Now().Add(5 * time.Second)
	for d.passEnded.Load() < want {
		if time.Now().After(deadline) {
			tb.Fatalf("the dispatcher's loop did not finish a pass within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Passes is the number of passes the loop has finished.
func Passes(d *Dispatcher) uint64 { return d.passEnded.Load() }

// Idle waits until d's loop waits for a wake-up or its poll timer (armed)
// with every wake-up sent taken: it then runs again only when told to (by
// a call that wakes it, or the fake clock's poll timer). It must not race
// with such calls or with the timer firing.
func Idle(tb testing.TB, d *Dispatcher) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !d.waiting.Load() || d.pokes.Load() != d.wakes.Load() {
		if time.Now().After(deadline) {
			tb.Fatalf("the dispatcher's loop did not go idle within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
