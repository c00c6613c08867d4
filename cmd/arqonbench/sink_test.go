package main

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestSinkCountsLossDuplicatesAndReorderingOfMeasuredMessagesOnly(t *testing.T) {
	var h histogram
	var received atomic.Int64
	s := newSink(2, 10, &h, &received) // 0..1 warm-up, 2..9 measured
	now := time.Now().UnixNano()
	for _, seq := range []int64{0, 1, 2, 3, 5, 4, 5, 7, 8} { // 6 and 9 lost, 5 twice, 4 late
		s.onFrame(appendPayload(nil, now, seq, 64))
	}
	s.onFrame([]byte(`{"type":"error","error":"x"}`))
	s.onFrame(appendPayload(nil, now, 10, 64)) // beyond the plan

	var sr streamResult
	sr.tally([]*sink{s}, func(int) int64 { return 8 })
	if sr.Received != 6 || received.Load() != 6 || h.Count() != 6 {
		t.Errorf("received %d (counter %d, latencies %d), want 6", sr.Received, received.Load(), h.Count())
	}
	if sr.Loss != 2 || sr.LossReceivers != 1 || sr.LossMaxReceiver != 2 {
		t.Errorf("loss %d on %d receivers (max %d), want 2 on 1", sr.Loss, sr.LossReceivers, sr.LossMaxReceiver)
	}
	if sr.Duplicates != 1 || sr.OutOfOrder != 1 || sr.OtherFrames != 2 {
		t.Errorf("duplicates %d, out of order %d, other %d; want 1, 1, 2", sr.Duplicates, sr.OutOfOrder, sr.OtherFrames)
	}
}
