package main

import (
	"context"
	"testing"
	"time"
)

var timeZero = time.Unix(1_700_000_000, 0)

// fakeClock advances only when slept on or told to.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

func TestPlannedTimesAdvanceByOneIntervalWhateverTheSendsCost(t *testing.T) {
	clk := &fakeClock{now: timeZero}
	s := schedule{start: timeZero.Add(time.Second), rate: 100} // 10 ms apart
	var planned, actual []time.Time
	n, err := pace(context.Background(), s, 50, clk, nil, func(i int64, p time.Time) error {
		planned, actual = append(planned, p), append(actual, clk.now)
		if i < 5 {
			clk.now = clk.now.Add(35 * time.Millisecond) // a stalled write
		}
		return nil
	})
	if err != nil || n != 50 {
		t.Fatalf("sent %d, err %v", n, err)
	}
	for i, p := range planned {
		if want := timeZero.Add(time.Second + time.Duration(i)*10*time.Millisecond); !p.Equal(want) {
			t.Fatalf("message %d planned at %v, want %v", i, p.Sub(timeZero), want.Sub(timeZero))
		}
	}
	// While behind, messages leave at once (catching up, not skipping).
	if actual[1].Sub(actual[0]) != 35*time.Millisecond {
		t.Errorf("message 1 left %v after message 0, want at once after the stalled write", actual[1].Sub(actual[0]))
	}
	// Once caught up, each leaves at its planned time again.
	if !actual[49].Equal(planned[49]) {
		t.Errorf("message 49 left at %v, planned %v", actual[49].Sub(timeZero), planned[49].Sub(timeZero))
	}
}

func TestPaceReportsHowLateEachMessageLeft(t *testing.T) {
	clk := &fakeClock{now: timeZero}
	s := schedule{start: timeZero, rate: 1000}
	var lags []time.Duration
	_, _ = pace(context.Background(), s, 3, clk, func(_ int64, late time.Duration) { lags = append(lags, late) },
		func(i int64, _ time.Time) error {
			if i == 0 {
				clk.now = clk.now.Add(2500 * time.Microsecond)
			}
			return nil
		})
	want := []time.Duration{0, 1500 * time.Microsecond, 500 * time.Microsecond}
	for i := range want {
		if lags[i] != want[i] {
			t.Errorf("lag of message %d: got %v, want %v", i, lags[i], want[i])
		}
	}
}

func TestPaceStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := &fakeClock{now: timeZero}
	n, err := pace(ctx, schedule{start: timeZero, rate: 10}, 100, clk, nil, func(i int64, _ time.Time) error {
		if i == 4 {
			cancel()
		}
		return nil
	})
	if n != 5 || err == nil {
		t.Fatalf("sent %d with err %v, want 5 and the context's error", n, err)
	}
}

func TestFractionalRatesDoNotDrift(t *testing.T) {
	s := schedule{start: timeZero, rate: 3}
	if got := s.at(3_000_000).Sub(timeZero); got != 1_000_000*time.Second {
		t.Fatalf("message 3e6 at 3 msg/s planned at %v, want 1e6 s", got)
	}
}
