package memq_test

import (
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/taskq"
	"github.com/arqonbus/arqonbus/internal/taskq/memq"
	"github.com/arqonbus/arqonbus/internal/taskq/taskqtest"
)

func TestMemoryQueueMeetsTheContract(t *testing.T) {
	taskqtest.Run(t, func(_ *testing.T, lim taskq.Limits) taskqtest.Harness {
		clock := taskqtest.NewClock()
		return taskqtest.Harness{
			Queue:   memq.New(memq.Options{Limits: lim, Clock: clock.Now}),
			Advance: clock.Advance,
		}
	})
}

// TestMemoryQueueMeetsTheContractInRealTime runs the suite on the wall
// clock, as a real Redis sees it: Advance sleeps, because the passing of
// time is what is under test and there is nothing to poll.
func TestMemoryQueueMeetsTheContractInRealTime(t *testing.T) {
	taskqtest.Run(t, func(_ *testing.T, lim taskq.Limits) taskqtest.Harness {
		return taskqtest.Harness{
			Queue:   memq.New(memq.Options{Limits: lim}),
			Advance: time.Sleep,
		}
	})
}
