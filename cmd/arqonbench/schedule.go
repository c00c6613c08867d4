package main

import (
	"context"
	"time"
)

// schedule is an open-loop publishing plan: message i is due at
// start + i/rate, whatever happened to the messages before it. A message
// sent late keeps its planned time as its send time, so the delay counts as
// latency instead of silently thinning the load (no coordinated omission).
type schedule struct {
	start time.Time
	rate  float64 // messages per second
}

// at is the planned time of message i.
func (s schedule) at(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) * float64(time.Second) / s.rate))
}

// clock is the time source of pace; tests pass a fake one.
type clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pace calls send for messages 0..n-1 at their planned times. It sleeps only
// while ahead of the plan; a late message goes out at once, with its planned
// time. lag (optional) receives how late each message left. It stops at the first
// send error or when ctx ends, and returns how many messages were sent.
func pace(ctx context.Context, s schedule, n int64, clk clock, lag func(i int64, late time.Duration),
	send func(i int64, planned time.Time) error) (int64, error) {
	for i := int64(0); i < n; i++ {
		planned := s.at(i)
		if d := planned.Sub(clk.Now()); d > 0 {
			if err := clk.Sleep(ctx, d); err != nil {
				return i, err
			}
		} else if err := ctx.Err(); err != nil {
			return i, err
		}
		if lag != nil {
			lag(i, clk.Now().Sub(planned))
		}
		if err := send(i, planned); err != nil {
			return i, err
		}
	}
	return n, nil
}
