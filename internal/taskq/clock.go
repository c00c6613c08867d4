package taskq

import "time"

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock, the Dispatcher's default.
var RealClock Clock = realClock{}
